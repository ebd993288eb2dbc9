"""Wait for background jobs while drawing their progress, and turn their outcome into a value or a message.

The wait loop only reads job state. Streamlit notices a rerun request (a control changed, a
page switched) only when the script sends something, so progress is redrawn at least every
``REDRAW_SECONDS``; the script then stops there and the jobs keep running for the next run. When the user
presses Stop (or the session ends), the jobs it was waiting for are given up: each stops unless another session
is waiting for it too.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import StopException

from core.errors import SerwbError
from workbench.jobs import Cancelled, Job

POLL_SECONDS = 0.15
REDRAW_SECONDS = 0.5


def outcome(job: Job) -> tuple[Any, str | None]:
    """``(value, None)``, or ``(None, message)`` when the job failed; never raises."""
    try:
        return job.result(), None
    except Cancelled:
        return None, f"{job.label} was stopped before it finished. Rerun the page to start it again."
    except SerwbError as e:
        return None, str(e)
    except Exception as e:  # noqa: BLE001 - a bug must not take the page down; the server log has the traceback
        return None, (f"{job.label} failed with an internal error ({type(e).__name__}). The rest of the page "
                      "keeps working; please report this with the server log.")


def wait(jobs: Mapping[str, Job], slots: Mapping[str, Any], on_done: Callable[[str, Job], None],
         label: Callable[[str], str] = str) -> None:
    """Call ``on_done(name, job)`` as each job finishes (any order); until then draw a progress bar in its slot.
    Stop cancels the jobs still pending; a rerun (a control changed) leaves them running for the next run."""
    pending = dict(jobs)
    for job in pending.values():
        job.watch()
    stopped = False
    try:
        _wait(pending, slots, on_done, label)
    except StopException:
        stopped = True
        raise
    finally:  # what is still pending was left: by a rerun (it keeps running) or by Stop (it is given up)
        for job in pending.values():
            job.unwatch()
            if stopped:
                job.give_up()  # stops unless another session waits for it too


def _wait(pending: dict[str, Job], slots: Mapping[str, Any], on_done: Callable[[str, Job], None],
          label: Callable[[str], str]) -> None:
    shown: dict[str, tuple] = {}
    while pending:
        for name, job in list(pending.items()):
            if job.done():
                del pending[name]
                job.unwatch()
                on_done(name, job)
                continue
            now = (round(job.fraction, 2), job.message)
            last = shown.get(name)
            if last is None or last[:2] != now or time.monotonic() - last[2] > REDRAW_SECONDS:
                shown[name] = (*now, time.monotonic())
                slots[name].progress(job.fraction, text=f"{label(name)}: {job.message} ({job.fraction:.0%})")
        if pending:
            time.sleep(POLL_SECONDS)


def wait_one(job: Job, what: str) -> tuple[Any, str | None]:
    """Block on one job with a progress bar that disappears when it is done."""
    slot = st.empty()
    result: dict[str, Any] = {}
    wait({what: job}, {what: slot}, lambda _name, j: result.setdefault("out", outcome(j)), label=lambda _n: what)
    slot.empty()
    return result["out"]
