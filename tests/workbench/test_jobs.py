"""The server-wide job runner: one computation per key, progress, errors kept or forgotten, bounded memory."""

import threading
import time
from pathlib import Path

import pytest
import torch

from core.errors import AudioError
from workbench.jobs import Cancelled, JobRunner


def test_one_computation_per_key_shared_by_every_caller():
    runner = JobRunner(workers=2)
    calls, release = [], threading.Event()

    def compute(progress):
        calls.append(1)
        progress(0.5, "halfway")
        release.wait(5)
        return 42

    first = runner.submit("k", compute)
    second = runner.submit("k", compute)
    assert first is second
    deadline = time.monotonic() + 5
    while first.message != "halfway" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert first.fraction == 0.5 and not first.done()
    release.set()
    assert first.future.result(timeout=5) == 42 and first.fraction == 1.0
    assert runner.submit("k", compute).result() == 42 and len(calls) == 1


def test_user_errors_are_kept_and_bugs_are_forgotten_so_a_retry_runs():
    runner = JobRunner(workers=1)
    bad_file = runner.submit("audio", lambda progress: (_ for _ in ()).throw(AudioError("not audio")))
    with pytest.raises(AudioError, match="not audio"):
        bad_file.future.result(timeout=5)
    assert runner.peek("audio") is bad_file

    attempts = []

    def flaky(progress):
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("bug")
        return "ok"

    with pytest.raises(RuntimeError):
        runner.submit("flaky", flaky).future.result(timeout=5)
    time.sleep(0.05)
    assert runner.peek("flaky") is None
    assert runner.submit("flaky", flaky).future.result(timeout=5) == "ok"


def test_finished_results_are_evicted_oldest_first_but_running_jobs_stay():
    runner = JobRunner(workers=1, max_results=3)
    hold = threading.Event()
    running = runner.submit("running", lambda progress: hold.wait(5))
    queued = [runner.submit(f"done-{i}", lambda progress, i=i: i) for i in range(5)]
    assert len(runner) == 6  # nothing finished yet, so nothing may go
    hold.set()
    assert [job.future.result(timeout=5) for job in queued] == list(range(5)) and running.done()
    runner.submit("one-more", lambda progress: 0).future.result(timeout=5)
    assert len(runner) == 3
    assert [runner.peek(k) is not None for k in ("running", "done-0", "done-3", "done-4", "one-more")] == [
        False, False, True, True, True]


def test_a_step_shared_by_jobs_is_computed_once_without_waiting_on_a_queued_job():
    runner = JobRunner(workers=1)  # one worker: a job that queued its shared step behind itself would never finish
    calls, started = [], threading.Event()

    def shared():
        calls.append(1)
        started.set()
        time.sleep(0.2)
        return "map"

    jobs = [runner.submit(f"audio-{i}", lambda progress: runner.memo("map", shared) + "+audio") for i in range(3)]
    outside = []
    thread = threading.Thread(target=lambda: (started.wait(5), outside.append(runner.memo("map", shared))))
    thread.start()
    assert [j.future.result(timeout=5) for j in jobs] == ["map+audio"] * 3
    thread.join(5)
    assert outside == ["map"] and len(calls) == 1
    with pytest.raises(AudioError):
        runner.memo("bad", lambda: (_ for _ in ()).throw(AudioError("unreadable")))
    assert runner.peek("bad") is not None  # a user-caused error is kept: the same inputs give the same message


@pytest.fixture(scope="module")
def long_occlusion():
    """A real occlusion (captum, the shipped demo cnn-eca) on 30 s of audio: many batches, tens of seconds."""
    from core import checkpoint
    from core.explain import methods as registry
    from core.explain.subject import Subject
    from core.features import frontend

    model, card = checkpoint.load(Path(__file__).resolve().parents[2] / "assets" / "models" / "cnn-eca")
    wave = torch.randn(30 * card.features.sample_rate) * 0.1
    subject = Subject(model, frontend(card.features)(wave), card.features, card.labels)
    return lambda progress: registry.explain("occlusion", subject, 0, None, progress=lambda f: progress(f, "occlusion"))


def test_cancel_stops_a_running_attribution_within_a_batch_and_frees_the_worker(long_occlusion):
    runner = JobRunner(workers=1)
    job = runner.submit("long", long_occlusion)
    deadline = time.monotonic() + 30
    while job.fraction <= 0.0 and time.monotonic() < deadline:  # captum's loop is under way
        time.sleep(0.02)
    assert 0 < job.fraction < 0.5
    cancelled_at = time.monotonic()
    assert runner.cancel(["long"]) == 1
    with pytest.raises(Cancelled):
        job.future.result(timeout=10)
    assert time.monotonic() - cancelled_at < 2.0  # stopped at the next batch, not at the end of the clip
    assert runner.peek("long") is None and runner.busy() == 0  # forgotten: the next request starts afresh
    assert runner.submit("next", lambda progress: 7).future.result(timeout=5) == 7  # the worker is free again


def test_a_job_cancelled_while_queued_never_runs():
    runner = JobRunner(workers=1)
    release, ran = threading.Event(), []
    runner.submit("first", lambda progress: release.wait(5))
    queued = runner.submit("second", lambda progress: ran.append(1))
    queued.cancel()
    release.set()
    with pytest.raises(Cancelled):
        queued.future.result(timeout=5)
    assert ran == []


def test_shutdown_cancels_everything_and_workers_do_not_hold_the_process():
    runner = JobRunner(workers=2)
    jobs = [runner.submit(f"spin{i}", lambda progress: [progress(0.1) or time.sleep(0.01) for _ in range(10_000)])
            for i in range(3)]
    time.sleep(0.05)  # two of them running
    assert runner.shutdown(wait_seconds=5.0)  # the workers put their batch down
    for job in jobs:
        with pytest.raises(Cancelled):
            job.future.result(timeout=1)
    assert all(worker.daemon for worker in runner._workers)


def test_a_job_another_page_waits_for_survives_one_page_giving_up():
    runner = JobRunner(workers=1)
    release = threading.Event()
    job = runner.submit("shared", lambda progress: [progress(0.5) or release.wait(0.01) for _ in range(200)] and 1)
    job.watch()  # two sessions wait on the same job
    job.watch()
    job.unwatch()
    assert not job.give_up() and not job.cancelled  # the first session stopped: the second still waits
    job.unwatch()
    assert job.give_up()  # nobody waits any more
    with pytest.raises(Cancelled):
        job.future.result(timeout=5)


def test_a_shared_step_stopped_for_one_job_is_computed_for_the_other():
    """Two jobs share a step (``memo``); the one computing it is cancelled: the other computes it itself."""
    runner = JobRunner(workers=2)
    started, calls = threading.Event(), []

    def slow_step(report):
        calls.append(1)
        for _ in range(500):
            report(0.1)
            started.set()
            time.sleep(0.01)
        return "map"

    first = runner.submit("first", lambda progress: runner.memo("step", lambda: slow_step(progress)))
    started.wait(5)
    second = runner.submit("second", lambda progress: runner.memo("step", lambda: "map computed again"))
    time.sleep(0.05)
    first.cancel()
    with pytest.raises(Cancelled):
        first.future.result(timeout=5)
    assert second.future.result(timeout=10) == "map computed again"


def test_a_touched_step_outlives_newer_results_in_the_lru():
    runner = JobRunner(workers=1, max_results=3)
    runner.memo("map", lambda: "m")
    runner.submit("audio-1", lambda progress: 1).future.result(timeout=5)
    for i in range(2, 5):  # each page run asks for the map's audio again (other settings): the map is touched
        runner.touch("map")
        runner.submit(f"audio-{i}", lambda progress: i).future.result(timeout=5)
    assert runner.peek("map") is not None and runner.peek("audio-1") is None
