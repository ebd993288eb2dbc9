"""The workbench in a real browser (Debian's chromium via playwright) against a real `streamlit run`.

One server for the whole module (conftest's session fixture); each test opens its own browser
context, i.e. its own Streamlit session. The app's defaults are real speech: the real-speech model
(polish-cnn-eca, trained on 1.7 s, so it pads a short word) and real Polish words as example clips;
one test switches to the synthetic demo model and corpus.
"""

import json
import os
from pathlib import Path

import soundfile as sf
from playwright.sync_api import Page, expect

ROOT = Path(__file__).resolve().parents[2]
#: The README's picture is refreshed only on request (`make screenshot`): a test run leaves tracked files alone.
SCREENSHOT = os.environ.get("SERWB_SCREENSHOT")
REAL_MODEL = ROOT / "assets" / "models" / "polish-cnn-eca"
DEMO_MODEL = ROOT / "assets" / "models" / "cnn-eca"
#: Default settings (LIME 500 samples, ...) on a possibly busy two-core machine.
TIMEOUT = 240_000
#: waveform, spectrogram, probabilities, then Grad-CAM, occlusion and LIME overlays
EXPLAIN_CHARTS = 6

PLAYERS = "audio[data-testid=stAudio]"  # st.audio players (st.audio_input has an <audio> of its own)
AUDIO_DURATIONS = """() => {
    const players = [...document.querySelectorAll('audio[data-testid=stAudio]')];
    return players.every(a => a.readyState >= 1 && isFinite(a.duration)) ? players.map(a => a.duration) : null;
}"""
#: [x axis title, x range] of every x axis of every plotly chart on the page.
X_AXES = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(p => Object.keys(p._fullLayout || {})
    .filter(k => /^xaxis\\d*$/.test(k))
    .map(k => [p._fullLayout[k].title?.text || '', p._fullLayout[k].range, p._fullLayout[k].matches || '']))"""


def model_seconds(model: Path) -> float:
    """The clip length the model was trained on: what it hears of a shorter clip, padded."""
    return float(json.loads((model / "card.json").read_text())["training"]["seconds"])


def real_clip(name: str = "") -> Path:
    """A real Polish word; by default the shortest (about 0.48 s), which the model hears mostly as padding."""
    if name:
        return ROOT / "assets" / "polish" / name
    return min(sorted((ROOT / "assets" / "polish").glob("*.flac")), key=lambda p: sf.info(p).duration)


def demo_clip(index: int = 0) -> Path:
    return sorted((ROOT / "assets" / "demo" / "test").rglob("*.wav"))[index]


def seconds(clip: Path) -> float:
    return sf.info(clip).duration


def open_app(browser, url: str, height: int = 1000) -> Page:
    page = browser.new_context(viewport={"width": 1440, "height": height}).new_page()
    page.goto(url)
    expect(page.get_by_role("heading", name="Explain a clip")).to_be_visible(timeout=TIMEOUT)
    return page


def upload(page: Page, *paths: Path) -> None:
    page.locator("[data-testid=stFileUploader] input[type=file]").first.set_input_files([str(p) for p in paths])


def choose(page: Page, picker: str, option: str, *, exact: bool = True) -> None:
    """Pick ``option`` in the selectbox labelled ``picker``."""
    page.get_by_role("combobox", name=picker, exact=True).click()
    page.get_by_role("option", name=option, exact=exact).click()


def pick_example(page: Page, clip_set: str | None = None, clip: str | None = None) -> str:
    """Add a clip from the Explain page's "Example clips" tab (``clip_set``: None keeps the default set;
    ``clip``: None takes the set's first clip); returns the clip's file name."""
    page.get_by_role("tab", name="Example clips").click()
    if clip_set is not None:
        choose(page, "Clip set", clip_set)
        expect(page.get_by_role("combobox", name="Clip set", exact=True)).to_have_value(clip_set)
    page.get_by_role("combobox", name="Example clip", exact=True).click()
    option = page.get_by_role("option", name=clip) if clip else page.get_by_role("option").first
    name = option.inner_text().split(" — ")[0]
    option.click()
    expect(page.get_by_role("heading", name=name)).to_be_visible(timeout=TIMEOUT)
    return name


def wait_for_explanation(page: Page) -> None:
    expect(page.locator(".js-plotly-plot")).to_have_count(EXPLAIN_CHARTS, timeout=TIMEOUT)
    expect(page.get_by_text("Grad-CAM focus clip")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_role("button", name="Export (ZIP")).to_be_visible(timeout=TIMEOUT)


def audio_durations(page: Page, count: int) -> list[float]:
    expect(page.locator(PLAYERS)).to_have_count(count, timeout=TIMEOUT)
    return page.wait_for_function(AUDIO_DURATIONS, timeout=TIMEOUT).json_value()


def assert_on_clip_timeline(page: Page, clip_seconds: float, time_axes: int) -> None:
    """Every time axis on the page runs 0 .. the clip's own duration (the padding the model heard cropped)."""
    axes = page.evaluate(X_AXES)
    timed = [x_range for title, x_range, matches in axes if title == "time (s)" or matches]
    assert len(timed) == time_axes, axes
    for x_range in timed:
        assert abs(x_range[0]) < 1e-6 and abs(x_range[1] - clip_seconds) < 0.01, axes


def test_upload_of_a_real_word_explains_it_with_three_overlays_and_focus_audio_and_a_bad_file_keeps_them(
        app_url, browser, tmp_path):
    page = open_app(browser, app_url, height=1900)
    expect(page.get_by_role("combobox", name="Model", exact=True)).to_have_value("polish-cnn-eca (real Polish speech)")
    clip = real_clip()
    heard = model_seconds(REAL_MODEL)
    assert seconds(clip) < heard - 0.5  # a word the model hears padded
    upload(page, clip)
    wait_for_explanation(page)
    for method in ("Grad-CAM", "Occlusion", "LIME"):
        expect(page.get_by_text(method, exact=True).last).to_be_visible()  # the first sits in the settings
    expect(page.get_by_text("frequency (Hz, mel scale)").first).to_be_visible()
    expect(page.get_by_text(f"padded to its training length of {heard:g} s")).to_be_visible()

    clip_seconds, *focus = audio_durations(page, 4)  # the clip, then original / focus / complement
    assert abs(clip_seconds - seconds(clip)) < 0.01
    assert [round(d, 2) for d in focus] == [heard] * 3  # as the model hears it: padded to 1.7 s
    # waveform, spectrogram and the three overlays all on the word's own 0 .. 0.48 s
    assert_on_clip_timeline(page, seconds(clip), time_axes=5)
    page.wait_for_timeout(500)
    shot = Path(SCREENSHOT) if SCREENSHOT else tmp_path / "screenshot.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000

    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 10)
    upload(page, clip, corrupt)
    expect(page.get_by_text("'corrupt.wav' could not be decoded")).to_be_visible(timeout=TIMEOUT)
    wait_for_explanation(page)  # the earlier results stay
    expect(page.get_by_text("Traceback")).to_have_count(0)
    page.context.close()


def test_four_sessions_uploading_at_once_all_get_overlays_and_audio(app_url, browser):
    """Four sessions, four different real words uploaded at the same moment: each gets its own explanation and
    focus audio, with no error; one example-clip pick beside them takes the same path as a file."""
    pages = [open_app(browser, app_url) for _ in range(4)]
    clips = [real_clip(name) for name in ("m2.a_tak_2.flac", "m1.n_stop_1.flac", "m3.s_podaj_3.flac")]
    for page, clip in zip(pages, clips):  # all started before any is waited on
        upload(page, clip)
    names = [c.name for c in clips] + [pick_example(pages[3])]
    assert len(set(names)) == 4
    for page, name in zip(pages, names):
        wait_for_explanation(page)
        expect(page.get_by_role("heading", name=name)).to_be_visible()
        assert len(audio_durations(page, 4)) == 4  # the clip, then original / focus / complement
        expect(page.get_by_text("Traceback")).to_have_count(0)
        expect(page.locator("[data-testid=stException]")).to_have_count(0)
    for page in pages:
        page.context.close()


def test_listen_page_plays_every_version_at_the_model_length(app_url, browser):
    page = open_app(browser, app_url)
    clip = real_clip()
    upload(page, clip)
    wait_for_explanation(page)
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Listen").click()
    expect(page.get_by_role("heading", name="Listen to an explanation")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_text("Griffin-Lim (Grad-CAM keep-only)")).to_be_visible(timeout=TIMEOUT)
    durations = audio_durations(page, 6)
    heard = model_seconds(REAL_MODEL)
    assert all(abs(d - heard) < 0.01 for d in durations), durations
    expect(page.get_by_role("button", name="Download WAV")).to_have_count(6)
    assert_on_clip_timeline(page, seconds(clip), time_axes=2)  # the curves under the waveform: the word itself
    page.context.close()


def test_the_synthetic_demo_model_and_clips_are_one_pick_away(app_url, browser):
    page = open_app(browser, app_url)
    choose(page, "Model", "cnn-eca (synthetic demo)")
    expect(page.get_by_role("combobox", name="Model", exact=True)).to_have_value("cnn-eca (synthetic demo)")
    clip = demo_clip()
    assert pick_example(page, "Synthetic demo (espeak-ng)", clip.name) == clip.name
    expect(page.get_by_text("label angry · speaker demo-13 · split test")).to_be_visible()
    wait_for_explanation(page)
    heard = model_seconds(DEMO_MODEL)
    clip_seconds, *focus = audio_durations(page, 4)
    assert abs(clip_seconds - 2.65) < 0.05
    assert [round(d, 2) for d in focus] == [heard] * 3 == [3.0] * 3  # as the model hears it: 3 s
    assert_on_clip_timeline(page, seconds(clip), time_axes=5)
    page.context.close()


def test_corpus_page_lists_the_demo_corpus_and_the_real_one(app_url, browser):
    page = browser.new_page(viewport={"width": 1440, "height": 2200})  # the picker's options open without scrolling
    page.goto(f"{app_url}/corpus")
    expect(page.get_by_role("heading", name="Corpus", exact=True)).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_role("combobox", name="Corpus", exact=True)).to_have_value("Demo corpus (synthetic, English)")
    expect(page.get_by_text("speakers", exact=True).first).to_be_visible(timeout=TIMEOUT)
    # every corpus under the data roots, one player per emotion of each (4 demo + 3 Polish + 2 planted-cue) ...
    expect(page.locator(PLAYERS)).to_have_count(9, timeout=TIMEOUT)
    page.wait_for_function(AUDIO_DURATIONS, timeout=TIMEOUT)  # ... all loaded: the page has settled
    choose(page, "Corpus", "Emotions in Polish speech recordings (real, acted)")
    expect(page.get_by_text("Polish, real (acted) speech")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_test_id("stMetricValue").first).to_have_text("450", timeout=TIMEOUT)
    page.close()
