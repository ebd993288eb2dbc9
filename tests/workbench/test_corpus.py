"""Corpus page with AppTest: it counts the shipped corpora and says where they come from."""

from wb_helpers import go, start, texts


def test_corpus_page_counts_the_demo_corpus():
    at = go(start(), "corpus")
    values = {m.label: m.value for m in at.metric}
    assert int(values["emotions"]) == 4
    assert int(values["speakers"]) >= 8
    assert int(values["clips"]) == 258
    assert "synthetic (espeak-ng)" in texts(at)


def test_corpus_page_shows_the_polish_corpus_with_citation_and_licence():
    at = go(start(), "corpus")
    at.selectbox(key="corpus_page").select("Emotions in Polish speech recordings (real, acted)").run()
    assert not at.exception, at.exception
    values = {m.label: m.value for m in at.metric}
    assert (int(values["clips"]), int(values["speakers"]), int(values["emotions"])) == (450, 5, 3)
    text = texts(at)
    for needle in ("Mięsikowska, M., & Świsulski, D. (2020)", "https://doi.org/10.34808/h46c-hb44",
                   "CC BY (Creative Commons Attribution)", "Polish", "real (acted)"):
        assert needle in text, needle
