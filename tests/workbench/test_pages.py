"""Page logic with Streamlit's AppTest: the shell loads, demo clips and uploads, errors in place."""

import io
from pathlib import Path

import numpy as np
import soundfile as sf
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "workbench" / "app.py")
TIMEOUT = 60


def run_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def test_app_opens_on_explain_with_no_errors():
    at = run_app()
    assert at.title[0].value == "Explain a clip"
    assert not at.error
    assert any("Add a clip" in i.value for i in at.info)


def test_picking_a_demo_clip_shows_its_label_and_spectrogram_caption():
    at = run_app()
    picker = at.selectbox[0]
    picker.select(picker.options[0]).run()
    assert not at.exception and not at.error
    assert any("label" in c.value for c in at.caption)
    assert any("stft-v8" in c.value or "S0" in c.value for c in at.caption)


def test_corpus_page_counts_the_demo_corpus():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page(str(ROOT / "workbench" / "app_pages" / "corpus.py")).run()
    assert not at.exception
    values = {m.label: m.value for m in at.metric}
    assert int(values["emotions"]) == 4
    assert int(values["speakers"]) >= 8
