"""Server-wide background jobs with a bounded result cache, shared by every session.

Why: a Streamlit rerun (a user moving a slider) interrupts the page script at its next
``st`` call. If the script itself ran an attribution, the work would be thrown away. Here a
small thread pool runs each computation once per key (``core.explain.cache_key`` or a key
derived from it); pages submit, then wait and draw progress. An interrupted page leaves its
job running, and the next run, or another session asking for the same key, picks up the
result. Finished results live in an LRU of bounded size; nothing is hashed by Streamlit.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from core.errors import SerwbError

log = logging.getLogger(__name__)

#: ``compute(progress)`` where ``progress(fraction, message)`` reports how far it got.
Compute = Callable[[Callable[[float, str], None]], Any]


class Job:
    """One computation: its future plus the last progress it reported (written by the worker thread)."""

    def __init__(self, key: str, label: str):
        self.key = key
        self.label = label
        self.fraction = 0.0
        self.message = "queued"
        self.future: Future = Future()

    def report(self, fraction: float, message: str = "") -> None:
        self.fraction = float(min(1.0, max(0.0, fraction)))
        if message:
            self.message = message

    def done(self) -> bool:
        return self.future.done()

    def result(self) -> Any:
        """The value, or re-raise what the computation raised (``SerwbError`` for user-caused problems)."""
        return self.future.result()


class JobRunner:
    """A thread pool plus an LRU of jobs by key. Running jobs are never evicted."""

    def __init__(self, workers: int = 2, max_results: int = 48):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="serwb-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self.max_results = max_results

    def submit(self, key: str, compute: Compute, label: str = "") -> Job:
        """The job for ``key``: the cached or running one if it exists, else a new one started now."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:
                self._jobs.move_to_end(key)
                return job
            job = self._jobs[key] = Job(key, label or key[:12])
            self._evict()
        self._pool.submit(self._run, job, compute)
        return job

    def memo(self, key: str, compute: Callable[[], Any], label: str = "") -> Any:
        """``compute()``'s value for ``key``, computed at most once and kept in the same LRU: in the calling thread
        when nobody has it, else the finished (or running) value. For steps shared by several jobs (a map that
        several audio settings derive from); a job may call it from its worker without ever waiting on a queued job.
        """
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
        return job.result()

    def peek(self, key: str) -> Job | None:
        """The job for ``key`` if one was submitted and is still remembered."""
        with self._lock:
            return self._jobs.get(key)

    def _run(self, job: Job, compute: Compute) -> None:
        job.message = "running"
        try:
            value = compute(job.report)
        except SerwbError as e:  # user-caused: keep it, the same inputs give the same message
            job.future.set_exception(e)
        except BaseException as e:  # a bug: log it, forget the job so that a retry runs again
            log.exception("job %s failed", job.label)
            job.future.set_exception(e)
            with self._lock:
                if self._jobs.get(job.key) is job:
                    del self._jobs[job.key]
        else:
            job.report(1.0, "done")
            job.future.set_result(value)

    def _evict(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.done()]
        excess = len(self._jobs) - self.max_results
        for key in finished[: max(0, excess)]:
            del self._jobs[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)
