"""The server-wide job runner: one computation per key, progress, errors kept or forgotten, bounded memory."""

import threading
import time

import pytest

from core.errors import AudioError
from workbench.jobs import JobRunner


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
