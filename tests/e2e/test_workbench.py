"""The workbench in a real browser (Debian's chromium via playwright) against a real `streamlit run`.

One server for the whole module (conftest's session fixture); each test opens its own browser
context, i.e. its own Streamlit session.
"""

from pathlib import Path

from playwright.sync_api import Page, expect

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "screenshot.png"
#: Default settings (LIME 500 samples, ...) on a possibly busy two-core machine.
TIMEOUT = 240_000
#: waveform, spectrogram, probabilities, then Grad-CAM, occlusion and LIME overlays
EXPLAIN_CHARTS = 6

PLAYERS = "audio[data-testid=stAudio]"  # st.audio players (st.audio_input has an <audio> of its own)
AUDIO_DURATIONS = """() => {
    const players = [...document.querySelectorAll('audio[data-testid=stAudio]')];
    return players.every(a => a.readyState >= 1 && isFinite(a.duration)) ? players.map(a => a.duration) : null;
}"""


def demo_clip(index: int = 0) -> Path:
    return sorted((ROOT / "assets" / "demo" / "test").rglob("*.wav"))[index]


def open_app(browser, url: str, height: int = 1000) -> Page:
    page = browser.new_context(viewport={"width": 1440, "height": height}).new_page()
    page.goto(url)
    expect(page.get_by_role("heading", name="Explain a clip")).to_be_visible(timeout=TIMEOUT)
    return page


def upload(page: Page, *paths: Path) -> None:
    page.locator("[data-testid=stFileUploader] input[type=file]").first.set_input_files([str(p) for p in paths])


def wait_for_explanation(page: Page) -> None:
    expect(page.locator(".js-plotly-plot")).to_have_count(EXPLAIN_CHARTS, timeout=TIMEOUT)
    expect(page.get_by_text("Grad-CAM focus clip")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_role("button", name="Export (ZIP")).to_be_visible(timeout=TIMEOUT)


def audio_durations(page: Page, count: int) -> list[float]:
    expect(page.locator(PLAYERS)).to_have_count(count, timeout=TIMEOUT)
    return page.wait_for_function(AUDIO_DURATIONS, timeout=TIMEOUT).json_value()


def test_upload_explains_with_three_overlays_and_focus_audio_and_a_bad_file_keeps_them(app_url, browser, tmp_path):
    page = open_app(browser, app_url, height=1900)
    clip = demo_clip()
    upload(page, clip)
    wait_for_explanation(page)
    for method in ("Grad-CAM", "Occlusion", "LIME"):
        expect(page.get_by_text(method, exact=True).last).to_be_visible()  # the first sits in the settings
    expect(page.get_by_text("frequency (Hz, mel scale)").first).to_be_visible()

    clip_seconds, *focus = audio_durations(page, 4)  # the clip, then original / focus / complement
    assert abs(clip_seconds - 2.65) < 0.05
    assert [round(d, 2) for d in focus] == [3.0, 3.0, 3.0]  # as the model hears it: 3 s
    page.wait_for_timeout(500)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))

    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 10)
    upload(page, clip, corrupt)
    expect(page.get_by_text("'corrupt.wav' could not be decoded")).to_be_visible(timeout=TIMEOUT)
    wait_for_explanation(page)  # the earlier results stay
    expect(page.get_by_text("Traceback")).to_have_count(0)
    page.context.close()


def test_two_sessions_at_once_both_finish(app_url, browser):
    pages = [open_app(browser, app_url) for _ in range(2)]
    clips = [demo_clip(1), demo_clip(2)]
    for page, clip in zip(pages, clips):  # both start before either is waited on
        upload(page, clip)
    for page, clip in zip(pages, clips):
        wait_for_explanation(page)
        expect(page.get_by_role("heading", name=clip.name)).to_be_visible()
        expect(page.get_by_text("Traceback")).to_have_count(0)
    for page in pages:
        page.context.close()


def test_listen_page_plays_every_version_at_the_model_length(app_url, browser):
    page = open_app(browser, app_url)
    upload(page, demo_clip())
    wait_for_explanation(page)
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Listen").click()
    expect(page.get_by_role("heading", name="Listen to an explanation")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_text("Griffin-Lim (Grad-CAM keep-only)")).to_be_visible(timeout=TIMEOUT)
    durations = audio_durations(page, 6)
    assert all(abs(d - 3.0) < 0.01 for d in durations), durations
    expect(page.get_by_role("button", name="Download WAV")).to_have_count(6)
    page.context.close()


def test_corpus_page_lists_the_demo_corpus(app_url, browser):
    page = browser.new_page()
    page.goto(f"{app_url}/corpus")
    expect(page.get_by_role("heading", name="Demo corpus")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_text("speakers")).to_be_visible(timeout=TIMEOUT)
    page.close()
