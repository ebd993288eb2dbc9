"""Hostile uploads in one browser session leave the others untouched: session A's explanation stays whole and
the same, session B is told what is wrong with each file, and a fresh session C is served as usual."""

import io
from pathlib import Path

import numpy as np
import soundfile as sf
from playwright.sync_api import Page, expect
from test_workbench import TIMEOUT, open_app, pick_example, real_clip, upload, wait_for_explanation

#: Every plotly chart's traces, as JSON: what a session's explanation draws.
FIGURES = "() => [...document.querySelectorAll('.js-plotly-plot')].map(p => JSON.stringify(p.data))"
MAX_UPLOAD_MB = 20  # .streamlit/config.toml server.maxUploadSize


def wav(samples: np.ndarray, sr: int = 16_000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def hostile_files(folder: Path) -> list[tuple[dict | Path, str]]:
    """(file, what its session must be told) for files no one should be able to break the server with."""
    rng = np.random.default_rng(0)
    good = wav(rng.uniform(-0.3, 0.3, 16_000).astype(np.float32))
    enormous = bytearray(good[:44] + good[44:1044])  # a header claiming 4 GiB of samples (37 h), 500 present
    enormous[4:8] = (0xFFFFFFF0).to_bytes(4, "little")
    enormous[40:44] = (0xFFFFFF00).to_bytes(4, "little")
    payloads = [
        ("random.wav", rng.bytes(65_536), "'random.wav' could not be decoded"),
        ("truncated.wav", good[: len(good) // 3], "'truncated.wav' is truncated"),
        ("enormous.wav", bytes(enormous), "'enormous.wav' is truncated"),
        ("../../../etc/passwd.wav", b"root:x:0:0:root:/root:/bin/bash\n" * 50, "passwd.wav' could not be decoded"),
        ("\u00fcn\u00efc\u00f6d\u00e9 \U0001f600\u202e.wav", "\u202e not audio".encode() * 100,
         "\U0001f600\u202e.wav' could not be decoded"),
    ]
    huge = folder / "huge.wav"  # from disk: a 20 MB buffer through playwright's protocol takes many seconds
    huge.write_bytes(bytes(MAX_UPLOAD_MB * 2**20 + 1))
    return [({"name": name, "mimeType": "audio/wav", "buffer": data}, told) for name, data, told in payloads] + [
        (huge, f"File must be {MAX_UPLOAD_MB:.1f}MB or smaller")]


def figures(page: Page) -> list[str]:
    return page.evaluate(FIGURES)


def no_traceback(page: Page) -> None:
    expect(page.get_by_text("Traceback")).to_have_count(0)
    expect(page.locator("[data-testid=stException]")).to_have_count(0)


def upload_hostile(page: Page, files: list[tuple[dict | Path, str]]) -> None:
    """Upload ``files`` and check that each is refused with its own message and none becomes the session's clip."""
    page.locator("[data-testid=stFileUploader] input[type=file]").first.set_input_files([f for f, _ in files])
    for _, told in files:
        expect(page.get_by_text(told).first).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_text("Add a clip")).to_be_visible()
    no_traceback(page)


def rerun_explain(page: Page) -> None:
    """Leave the Explain page and come back: the session's results are drawn again from the server's state."""
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Dataset").click()
    expect(page.get_by_role("heading", name="Analyse a dataset")).to_be_visible(timeout=TIMEOUT)
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Explain").click()
    expect(page.get_by_role("heading", name="Explain a clip")).to_be_visible(timeout=TIMEOUT)
    wait_for_explanation(page)


def test_hostile_uploads_in_one_session_leave_the_others_whole_and_the_server_serving(app_url, browser, tmp_path):
    a, b, c = (open_app(browser, app_url) for _ in range(3))
    files = hostile_files(tmp_path)
    upload(a, real_clip())
    upload_hostile(b, files[:-1])  # while A's clip is being explained
    wait_for_explanation(a)
    before = figures(a)
    upload_hostile(b, files[-1:])

    rerun_explain(a)
    assert figures(a) == before  # A's explanation: the same, and whole
    no_traceback(a)
    pick_example(c)  # a third session is served as usual: its clip read, its Grad-CAM part explained
    expect(c.get_by_text("Grad-CAM focus clip")).to_be_visible(timeout=TIMEOUT)
    no_traceback(c)
    for page in (a, b, c):
        page.context.close()
