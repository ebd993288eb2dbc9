"""Server-wide background jobs with a bounded result cache, shared by every session.

Why: a Streamlit rerun (a user moving a slider) interrupts the page script at its next
``st`` call. If the script itself ran an attribution, the work would be thrown away. Here a
small thread pool runs each computation once per key (``core.explain.cache_key`` or a key
derived from it); pages submit, then wait and draw progress. An interrupted page leaves its
job running, and the next run, or another session asking for the same key, picks up the
result. Finished results live in an LRU of bounded size; nothing is hashed by Streamlit.

Cancel means cancel: ``Job.cancel`` makes the computation raise ``Cancelled`` at its next progress report (every
method reports between batches), so the worker is free within one batch; a cancelled job is forgotten, and the
next request for its key starts afresh. Jobs are shared, so a session gives up a job (``Job.give_up``) rather
than killing it: the job stops only when no other session is waiting for it. The workers are daemon threads and ``shutdown`` cancels everything, so the
server exits promptly on SIGTERM even in the middle of an attribution.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from typing import Any, Callable, Iterable

from core.errors import SerwbError

log = logging.getLogger(__name__)

#: ``compute(progress)`` where ``progress(fraction, message)`` reports how far it got.
Compute = Callable[[Callable[[float, str], None]], Any]


class Cancelled(Exception):
    """Raised inside a cancelled job's computation at its next progress report."""


class Job:
    """One computation: its future plus the last progress it reported (written by the worker thread)."""

    def __init__(self, key: str, label: str):
        self.key = key
        self.label = label
        self.fraction = 0.0
        self.message = "queued"
        self.future: Future = Future()
        self._cancel = threading.Event()
        self._watchers = 0  # pages waiting for it now (progress.wait)
        self._watch_lock = threading.Lock()

    def report(self, fraction: float, message: str = "") -> None:
        """Record progress; in a cancelled job, stop the computation here (raises ``Cancelled``)."""
        if self._cancel.is_set():
            raise Cancelled(f"{self.label} was stopped.")
        self.fraction = float(min(1.0, max(0.0, fraction)))
        if message:
            self.message = message

    def cancel(self) -> None:
        """Ask the computation to stop at its next progress report (a finished job is unaffected)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def watch(self) -> None:
        """A page starts waiting for this job."""
        with self._watch_lock:
            self._watchers += 1

    def unwatch(self) -> None:
        with self._watch_lock:
            self._watchers = max(0, self._watchers - 1)

    def give_up(self) -> bool:
        """Cancel this job unless some page is still waiting for it (another session shares it); whether it was."""
        with self._watch_lock:
            if self._watchers == 0 and not self.done():
                self._cancel.set()
                return True
            return False

    def done(self) -> bool:
        return self.future.done()

    def result(self) -> Any:
        """The value, or re-raise what the computation raised (``SerwbError`` for user-caused problems)."""
        return self.future.result()


class JobRunner:
    """Daemon worker threads plus an LRU of jobs by key. Running jobs are never evicted."""

    def __init__(self, workers: int = 2, max_results: int = 48):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._workers = [threading.Thread(target=self._work, name=f"serwb-job-{i}", daemon=True)
                         for i in range(workers)]
        for worker in self._workers:
            worker.start()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._idle = threading.Semaphore(workers)  # held by a worker while it computes
        self.max_results = max_results
        atexit.register(self.shutdown, wait_seconds=5.0)

    def submit(self, key: str, compute: Compute, label: str = "") -> Job:
        """The job for ``key``: the cached or running one if it exists, else a new one started now."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:
                self._jobs.move_to_end(key)
                return job
            job = self._jobs[key] = Job(key, label or key[:12])
            self._evict()
        self._queue.put((job, compute))
        return job

    def memo(self, key: str, compute: Callable[[], Any], label: str = "") -> Any:
        """``compute()``'s value for ``key``, computed at most once and kept in the same LRU: in the calling thread
        when nobody has it, else the finished (or running) value. For steps shared by several jobs (a map that
        several audio settings derive from); a job may call it from its worker without ever waiting on a queued job.
        """
        while True:
            with self._lock:
                job = self._jobs.get(key)
                mine = job is None
                if mine:
                    job = self._jobs[key] = Job(key, label or key[:12])
                    self._evict()
                else:
                    self._jobs.move_to_end(key)
            if mine:
                self._run(job, lambda report: compute())
            try:
                return job.result()
            except Cancelled:
                if mine:
                    raise
                # the job that was computing it for someone else was stopped: compute it here (it is forgotten)

    def cancel(self, keys: Iterable[str]) -> int:
        """Give up the unfinished jobs among ``keys`` (``Job.give_up``: those no page waits for stop); how many
        stopped."""
        with self._lock:
            jobs = [j for k in keys if (j := self._jobs.get(k)) is not None and not j.done()]
        return sum(job.give_up() for job in jobs)

    def shutdown(self, wait_seconds: float = 0.0) -> bool:
        """Cancel every unfinished job (the server is stopping) and wait up to ``wait_seconds`` for the workers to
        put down their batch, so that no thread is inside torch while the interpreter exits; whether they did."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel()
        deadline = time.monotonic() + wait_seconds
        taken = 0
        while taken < len(self._workers) and self._idle.acquire(timeout=max(0.0, deadline - time.monotonic())):
            taken += 1
        for _ in range(taken):
            self._idle.release()
        return taken == len(self._workers)

    def busy(self) -> int:
        """How many jobs are unfinished (queued or running)."""
        with self._lock:
            return sum(not j.done() for j in self._jobs.values())

    def touch(self, key: str) -> None:
        """Mark ``key`` as just used, so the LRU keeps it (a step that a cached job will derive from again)."""
        with self._lock:
            if key in self._jobs:
                self._jobs.move_to_end(key)

    def peek(self, key: str) -> Job | None:
        """The job for ``key`` if one was submitted and is still remembered."""
        with self._lock:
            return self._jobs.get(key)

    def _work(self) -> None:
        while True:
            job, compute = self._queue.get()
            with self._idle:
                self._run(job, compute)

    def _run(self, job: Job, compute: Compute) -> None:
        try:
            job.report(0.0, "running")
            value = compute(job.report)
        except SerwbError as e:  # user-caused: keep it, the same inputs give the same message
            job.future.set_exception(e)
        except Cancelled as e:  # asked to stop: forget it, so that the next request starts afresh
            job.future.set_exception(e)
            self._forget(job)
        except BaseException as e:  # a bug: log it, forget the job so that a retry runs again
            log.exception("job %s failed", job.label)
            job.future.set_exception(e)
            self._forget(job)
        else:
            job.report(1.0, "done")
            job.future.set_result(value)

    def _forget(self, job: Job) -> None:
        with self._lock:
            if self._jobs.get(job.key) is job:
                del self._jobs[job.key]

    def _evict(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.done()]
        excess = len(self._jobs) - self.max_results
        for key in finished[: max(0, excess)]:
            del self._jobs[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)
