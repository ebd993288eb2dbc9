"""Any clip the uploader accepts is explained in bounded time with visible progress, and cancel means cancel:
the longest accepted clip (60 s of real speech) runs to the end in a real browser; Stop leaves the server idle;
SIGTERM ends a busy server at once."""

import os
import re
import signal
import time
from pathlib import Path

import soundfile as sf
from bench.server import start_server, stop_server
from playwright.sync_api import expect
from test_workbench import TIMEOUT, open_app, upload, wait_for_explanation

from bench.long_clips import real_speech

LONGEST = 60.0  # workbench.state.MAX_CLIP_SECONDS
PROGRESS = re.compile(r"(Occlusion|LIME): .*\((\d+)%\)")


def long_real_speech(folder: Path, seconds: float = LONGEST - 0.5) -> Path:
    """Real Polish words one after another up to ``seconds`` (``bench.long_clips.real_speech``), as a WAV file."""
    clip = real_speech(seconds)
    path = folder / "sixty-seconds-of-polish.wav"
    sf.write(path, clip.wave.numpy(), clip.sr)
    return path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads (/proc/PID/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_the_longest_accepted_clip_is_explained_to_the_end_with_its_progress_shown(app_url, browser, tmp_path):
    page = open_app(browser, app_url, height=1600)
    clip = long_real_speech(tmp_path)
    upload(page, clip)
    expect(page.get_by_text(PROGRESS).first).to_be_visible(timeout=TIMEOUT)
    wait_for_explanation(page)
    expect(page.get_by_text("explained window by window").first).to_be_visible()
    expect(page.get_by_text("Traceback")).to_have_count(0)
    page.context.close()


def test_stop_leaves_the_server_idle_and_sigterm_ends_it_while_busy(browser, tmp_path):
    server, url = start_server(tmp_path / "server.log")
    try:
        page = open_app(browser, url)
        upload(page, long_real_speech(tmp_path))
        expect(page.get_by_text(PROGRESS).first).to_be_visible(timeout=TIMEOUT)
        page.get_by_role("button", name="Stop").click()
        time.sleep(3)  # a batch or two to put down
        before = cpu_seconds(server.pid)
        time.sleep(3)
        assert cpu_seconds(server.pid) - before < 0.6  # idle: under 20 % of one core, not two busy workers

        page.reload()
        expect(page.get_by_role("heading", name="Explain a clip")).to_be_visible(timeout=TIMEOUT)
        upload(page, long_real_speech(tmp_path, seconds=LONGEST - 1.0))  # another clip: busy again
        expect(page.get_by_text(PROGRESS).first).to_be_visible(timeout=TIMEOUT)
        page.context.close()
        terminated = time.monotonic()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        assert time.monotonic() - terminated < 10
    finally:
        if server.poll() is None:
            stop_server(server)
