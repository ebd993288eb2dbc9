"""The workbench in a real browser: it loads, takes an upload, and keeps results after a bad one."""

from pathlib import Path

from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60_000


def demo_clip() -> Path:
    return sorted((ROOT / "assets" / "demo").rglob("*.wav"))[0]


def test_upload_shows_spectrogram_and_a_bad_file_keeps_it(app_url, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url)
    expect(page.get_by_role("heading", name="Explain a clip")).to_be_visible(timeout=TIMEOUT)

    clip = demo_clip()
    page.locator("input[type=file]").set_input_files(str(clip))
    charts = page.locator(".js-plotly-plot")
    expect(charts).to_have_count(2, timeout=TIMEOUT)  # waveform and spectrogram
    expect(page.get_by_text("frequency (Hz, mel scale)")).to_be_visible(timeout=TIMEOUT)

    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 10)
    page.locator("input[type=file]").set_input_files([str(clip), str(corrupt)])
    expect(page.get_by_text("'corrupt.wav' could not be decoded")).to_be_visible(timeout=TIMEOUT)
    expect(charts).to_have_count(2)
    expect(page.get_by_text("Traceback")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "explain.png"), full_page=True)
    page.close()


def test_corpus_page_lists_the_demo_corpus(app_url, browser):
    page = browser.new_page()
    page.goto(f"{app_url}/corpus")
    expect(page.get_by_role("heading", name="Demo corpus")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_text("speakers")).to_be_visible(timeout=TIMEOUT)
    page.close()
