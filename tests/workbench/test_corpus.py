"""Corpus page with AppTest: it counts the shipped demo corpus."""

from wb_helpers import go, start


def test_corpus_page_counts_the_demo_corpus():
    at = go(start(), "corpus")
    values = {m.label: m.value for m in at.metric}
    assert int(values["emotions"]) == 4
    assert int(values["speakers"]) >= 8
    assert int(values["clips"]) == 258
