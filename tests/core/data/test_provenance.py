"""core.data.provenance: one entry per corpus the project loads, keyed like Manifest.corpus."""

from dataclasses import FrozenInstanceError

import pytest

from core.data import provenance
from core.data.corpora import NAMING_LAYOUTS
from core.data.provenance import REAL, SYNTHETIC, CorpusInfo, info


def test_every_named_corpus_and_the_demo_has_an_entry():
    assert set(provenance.CORPUS_INFO) == {*NAMING_LAYOUTS, "iemocap", "serwb-demo"}
    for name, entry in provenance.CORPUS_INFO.items():
        assert isinstance(entry, CorpusInfo) and entry.name == name
        assert entry.speech in (REAL, SYNTHETIC)
        assert all([entry.title, entry.language, entry.licence, entry.citation, entry.url])


def test_demo_name_matches_the_synthetic_corpus():
    synthetic = pytest.importorskip("core.data.synthetic")
    demo = info(synthetic.CORPUS_NAME)
    assert demo is not None and demo.speech == SYNTHETIC and demo.language == "English"


def test_known_licences_and_lookups():
    polish = info("polish")
    assert (polish.language, polish.speech) == ("Polish", REAL)
    assert "CC BY" in polish.licence and "10.34808/h46c-hb44" in polish.citation
    assert "Mięsikowska" in polish.citation
    assert info("ravdess").licence == "CC BY-NC-SA 4.0" and info("tess").licence == "CC BY-NC-ND 4.0"
    assert "ODbL" in info("crema-d").licence and "USC SAIL" in info("iemocap").licence
    assert info("emodb").language == "German"
    assert info(" EMO-DB ") is info("emodb") and info("CREMA_D") is info("crema-d")
    assert info("csv") is None and info("folder") is None
    with pytest.raises(FrozenInstanceError):
        polish.licence = "x"
