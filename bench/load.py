"""The workbench under load: N browser sessions upload a different real word at the same moment.

Each session (its own browser context: its own Streamlit session) waits for its Grad-CAM, occlusion and LIME
overlays and its focus audio; we print every session's time, the slowest, and the server's peak resident memory
(``VmHWM``). What bounds memory: uploads of at most 20 MB (``.streamlit/config.toml``) and 60 s
(``workbench.state.MAX_CLIP_SECONDS``), at most 8 models and 256 decoded clips cached, at most 64 finished jobs kept
(``workbench.state``'s ``JobRunner``). Run: ``python -m bench.load [--sessions 8]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from bench.server import CHROMIUM, CHROMIUM_ARGS, ROOT, peak_rss_mib, start_server, stop_server

CHARTS = 6  # waveform, spectrogram, probabilities, then the three overlays
TIMEOUT_MS = 600_000


def clips(n: int) -> list[Path]:
    words = sorted((ROOT / "assets" / "polish").glob("*.flac"))
    return [words[(i * 37) % len(words)] for i in range(n)]  # spread over speakers and words


def run(sessions: int = 8) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        server, url = start_server(Path(tmp) / "server.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                pages = []
                for _ in range(sessions):
                    page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
                    page.goto(url)
                    expect(page.get_by_role("heading", name="Explain a clip")).to_be_visible(timeout=TIMEOUT_MS)
                    pages.append(page)
                idle_rss = peak_rss_mib(server.pid)
                started = time.perf_counter()
                for page, clip in zip(pages, clips(sessions)):
                    page.locator("[data-testid=stFileUploader] input[type=file]").first.set_input_files(str(clip))
                times, errors = [], 0
                for page in pages:  # the playwright API is single-threaded: wait for each in turn
                    expect(page.locator(".js-plotly-plot")).to_have_count(CHARTS, timeout=TIMEOUT_MS)
                    expect(page.locator("audio[data-testid=stAudio]")).to_have_count(4, timeout=TIMEOUT_MS)
                    times.append(time.perf_counter() - started)
                    errors += page.get_by_text("Traceback").count() + page.locator("[data-testid=stException]").count()
                browser.close()
            return {"sessions": sessions, "times": times, "slowest": max(times), "errors": errors,
                    "idle_rss_mib": idle_rss, "peak_rss_mib": peak_rss_mib(server.pid)}
        finally:
            stop_server(server)


def markdown(result: dict) -> str:
    times = ", ".join(f"{t:.1f}" for t in result["times"])
    return (f"{result['sessions']} sessions uploading at once: slowest {result['slowest']:.1f} s to overlays and "
            f"audio (each, in the order waited on: {times} s); errors shown: {result['errors']}; server peak RSS "
            f"{result['peak_rss_mib']:.0f} MiB (after the sessions opened, before the uploads: "
            f"{result['idle_rss_mib']:.0f} MiB).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8)
    print(markdown(run(parser.parse_args().sessions)))


if __name__ == "__main__":
    main()
