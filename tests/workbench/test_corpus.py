"""Corpus page with AppTest: every corpus under the data roots listed, one example player per emotion of
each, and the picked corpus's counts, provenance and clips."""

from pathlib import Path

from wb_helpers import ROOT, go, start, texts

from core.data.corpora import load_manifest

POLISH = "Emotions in Polish speech recordings (real, acted)"


def _players(at) -> list:
    return list(at.get("audio"))


def test_corpus_page_lists_every_corpus_under_the_data_roots_with_a_player_per_emotion():
    at = go(start(), "corpus")
    assert not at.error
    overview = at.dataframe[0].value
    assert list(overview["folder"][:3]) == ["assets/demo", "assets/polish", "assets/polish-cue"]
    assert list(overview["clips"][:3]) == [258, 450, 40]
    assert list(overview["emotions"][:2]) == ["angry, happy, neutral, sad", "angry, fearful, neutral"]
    assert overview["corpus"][1] == POLISH and overview["language"][1] == "Polish"
    # one example player per emotion and corpus: demo 4, Polish 3, its planted cues 2
    assert len(_players(at)) == 4 + 3 + 2
    captions = [c.value for c in at.caption]
    demo = load_manifest(ROOT / "assets" / "demo")
    polish = load_manifest(ROOT / "assets" / "polish")
    for manifest in (demo, polish):
        for label in manifest.labels():
            [shown] = [c for c in captions if any(f"`{r.path.name}`" in c for r in manifest.rows if r.label == label)]
            assert "speaker" in shown
    polish_names = {r.path.name for r in polish.rows}
    assert sum(any(f"`{n}`" in c for n in polish_names) for c in captions) == 3  # a file of each Polish emotion


def test_the_example_players_carry_each_corpus_own_files():
    at = go(start(), "corpus")
    urls = [p.proto.url for p in _players(at)]
    assert len(set(urls)) == len(urls) == 9  # nine different clips
    assert [Path(u).suffix for u in urls] == [".wav"] * 4 + [".flac"] * 5  # demo WAV; Polish and its cues FLAC


def test_corpus_page_counts_the_demo_corpus():
    at = go(start(), "corpus")
    values = {m.label: m.value for m in at.metric}
    assert int(values["emotions"]) == 4
    assert int(values["speakers"]) >= 8
    assert int(values["clips"]) == 258
    assert "synthetic (espeak-ng)" in texts(at)
    table = at.dataframe[-1].value  # every clip, the describing columns only until asked for all
    assert len(table) == 258 and {"file", "emotion", "speaker", "split"} <= set(table.columns)
    assert "voice" not in table.columns
    at.toggle(key="corpus_all_columns").set_value(True).run()
    assert "voice" in at.dataframe[-1].value.columns


def test_corpus_page_shows_the_polish_corpus_with_citation_and_licence():
    at = go(start(), "corpus")
    at.selectbox(key="corpus_page").select(POLISH).run()
    assert not at.exception, at.exception
    values = {m.label: m.value for m in at.metric}
    assert (int(values["clips"]), int(values["speakers"]), int(values["emotions"])) == (450, 5, 3)
    text = texts(at)
    for needle in ("Mięsikowska, M., & Świsulski, D. (2020)", "https://doi.org/10.34808/h46c-hb44",
                   "CC BY (Creative Commons Attribution)", "Polish", "real (acted)"):
        assert needle in text, needle


def test_a_data_root_holding_corpora_in_sub_folders_lists_each(tmp_path, monkeypatch):
    demo = sorted((ROOT / "assets" / "demo" / "test").rglob("*.wav"))
    for corpus in ("first", "second"):
        for label in ("angry", "sad"):
            folder = tmp_path / corpus / label
            folder.mkdir(parents=True)
            src = next(p for p in demo if label in p.name)
            (folder / f"{corpus}_{label}.wav").write_bytes(src.read_bytes())
    monkeypatch.setenv("SERWB_DATA_ROOTS", str(tmp_path))
    at = go(start(), "corpus")
    assert not at.error
    folders = list(at.dataframe[0].value["folder"])
    assert str(tmp_path / "first") in folders and str(tmp_path / "second") in folders
    assert len(_players(at)) == 4 + 3 + 2 + 2 + 2
    assert Path(folders[-1]).name == "second"
