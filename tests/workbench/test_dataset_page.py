"""Dataset page with AppTest: data roots enforced, batch analysis of the demo corpus and of uploads."""

import numpy as np
import pytest
import sklearn.metrics
from wb_helpers import ROOT, arr, charts, go, model_index, start

from core.audio import load_audio
from core.data.corpora import load_manifest
from core.explain import Settings, analyze


def _confusion(at):
    [chart] = [c for c in charts(at) if "predicted emotion" in str(c["layout"])
               and c["data"][0]["type"] == "heatmap"]
    return arr(chart["data"][0]["z"])


def test_folders_outside_the_data_roots_are_refused(tmp_path, monkeypatch):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "escape").symlink_to(outside, target_is_directory=True)
    monkeypatch.setenv("SERWB_DATA_ROOTS", str(root))
    at = go(start(), "dataset")
    for typed in ("/etc", str(outside), str(root / "escape"), "assets/demo/../../.."):
        at.text_input(key="dataset_folder").set_value(typed).run()
        assert not at.exception
        assert any("outside the folders this workbench may read" in e.value for e in at.error), typed
        assert not at.button  # nothing to analyse
    at.text_input(key="dataset_folder").set_value(str(root / "missing")).run()
    assert any("is not a folder" in e.value for e in at.error)


def test_demo_corpus_analysis_matches_core_evaluate(demo_model):
    at = go(start(), "dataset")
    at.selectbox(key="dataset_split").select("test").run()
    at.number_input(key="dataset_limit").set_value(12).run()
    at.button(key="dataset_run").click().run()
    assert not at.exception and not at.error
    confusion = _confusion(at)
    assert confusion.sum() == 12

    model, card = demo_model
    rows = load_manifest(ROOT / "assets" / "demo").filter(split="test").rows[:12]
    predicted = [analyze(load_audio(r.path), model, card, methods=(), settings=Settings(audio=False),
                         device="cpu").predicted for r in rows]
    true = [card.labels.index(r.label) for r in rows]
    np.testing.assert_array_equal(confusion, sklearn.metrics.confusion_matrix(true, predicted, labels=range(4)))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["UA"] == f"{sklearn.metrics.balanced_accuracy_score(true, predicted):.1%}"
    assert not any("These are planted-cue clips" in c.value for c in at.caption)  # the cue clips were not scored

    assert any("t-SNE 1" in str(c["layout"]) for c in charts(at))
    assert any("mean attribution per band" in str(c["layout"]) for c in charts(at))
    localisation = [d.value for d in at.dataframe if "method" in d.value.columns]
    assert localisation and set(localisation[0]["method"]) == {"gradcam"}
    [by_emotion] = [t for t in localisation if "emotion" in t.columns]  # the cue clips plant three emotions
    assert set(by_emotion["emotion"]) == {"angry", "happy", "sad"}
    assert by_emotion["clips"].sum() == localisation[0]["clips"].sum()
    assert len(at.get("audio")) >= 1  # the selected confusion cell's clips, to listen to
    assert any(b.proto.label.startswith("Export") for b in at.get("download_button"))

    cell = at.selectbox(key="dataset_cell")
    cell.select_index(len(cell.options) - 1).run()
    assert not at.exception

    at.selectbox(key="model").select_index(model_index(at, "fusion")).run()  # results stay, marked as cnn-eca's
    assert not at.exception and not at.error
    assert any("from another model (cnn-eca)" in w.value for w in at.warning)
    np.testing.assert_array_equal(_confusion(at), confusion)


def test_uploaded_clips_are_analysed_with_labels_from_their_names():
    at = go(start(), "dataset")
    at.radio(key="dataset_source").set_value("uploads").run()
    files = sorted((ROOT / "assets" / "demo" / "test").rglob("*.wav"))[:6]
    at.file_uploader(key="dataset_uploads").set_value([(f.name, f.read_bytes(), "audio/wav") for f in files]).run()
    assert not at.error, [e.value for e in at.error]
    at.button(key="dataset_run").click().run()
    assert not at.exception and not at.error
    assert _confusion(at).sum() == 6


@pytest.mark.parametrize("name", ["noise.wav"])
def test_uploads_without_labels_explain_how_to_name_them(name):
    at = go(start(), "dataset")
    at.radio(key="dataset_source").set_value("uploads").run()
    data = (ROOT / "assets" / "demo" / "test").rglob("*.wav").__next__().read_bytes()
    at.file_uploader(key="dataset_uploads").set_value([(name, data, "audio/wav")]).run()
    assert any("emotion word in each name" in e.value for e in at.error)


def test_clips_of_a_label_the_model_lacks_are_counted_shown_not_scored_and_chance_is_beside_ua():
    at = go(start(), "dataset")
    at.radio(key="dataset_source").set_value("uploads").run()
    files = sorted((ROOT / "assets" / "demo" / "test").rglob("*.wav"))[:6]
    fearful = files[0].stem.rsplit("_", 1)[0] + "_fearful.wav"  # a relabelled copy: the model has no such class
    uploads = [(f.name, f.read_bytes(), "audio/wav") for f in files] + [(fearful, files[0].read_bytes(), "audio/wav")]
    at.file_uploader(key="dataset_uploads").set_value(uploads).run()
    assert not at.error, [e.value for e in at.error]
    at.button(key="dataset_run").click().run()
    assert not at.exception and not at.error

    assert _confusion(at).sum() == 6  # the scored matrix: the model's labels only
    shown = "\n".join(str(e.value) for kind in ("caption", "info") for e in getattr(at, kind))
    assert "7 clips, 6 of them scored" in shown
    assert "1 clip labelled fearful: this model has no such class" in shown and "predicted but not scored" in shown
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Chance UA"] == "25.0%"
    ua = float(metrics["UA"].rstrip("%")) / 100
    assert f"UA {ua:.2f} (chance 0.25)" in shown

    [chart] = [c for c in charts(at) if "predicted emotion" in str(c["layout"]) and c["data"][0]["type"] == "heatmap"]
    [extra] = [d for d in chart["data"] if d["type"] == "heatmap" and d.get("name") == "not scored"]
    assert list(extra["y"]) == ["fearful (not scored)"] and arr(extra["z"]).sum() == 1  # its prediction, visible
    cell = at.selectbox(key="dataset_cell")
    [index] = [i for i, o in enumerate(cell.options) if o.startswith("fearful (not scored) → predicted ")]
    cell.select_index(index).run()
    assert not at.exception
    assert any(m.value.startswith(f"`{fearful}`") for m in at.markdown)  # listed with its probabilities, to listen to


ADAPT = "Adapt to each speaker (AdaBN)"


def _adapt_box(at):
    return [c for c in at.checkbox if c.label == ADAPT]


def test_speaker_adaptation_is_offered_and_the_results_say_whether_they_were_adapted():
    at = go(start(), "dataset")
    at.selectbox(key="dataset_split").select("test").run()
    at.number_input(key="dataset_limit").set_value(20).run()  # the test split's 16 clips of demo-13, 4 of demo-14
    [box] = _adapt_box(at)
    assert box.value is False  # the demo card did not train with speaker batches
    assert "BatchNorm statistics" in box.help and "at least 8 clips" in box.help and "Explain page" in box.help
    at.button(key="dataset_run").click().run()
    assert not at.exception and not at.error
    assert any(c.value.startswith("Not adapted to speakers") for c in at.caption)
    assert not any("AdaBN" in i.value for i in at.info)

    _adapt_box(at)[0].check().run()
    at.button(key="dataset_run").click().run()  # a job of its own: the key holds the flag
    assert not at.exception and not at.error
    [note] = [i.value for i in at.info if "AdaBN" in i.value]
    assert "1 speaker adapted" in note and "1 speaker left as trained (fewer than 8 clips)" in note
    assert not any(c.value.startswith("Not adapted to speakers") for c in at.caption)


def test_adaptation_defaults_to_the_cards_speaker_batches_and_needs_named_speakers(speaker_batches_model):
    at = go(start(model=speaker_batches_model), "dataset")
    [box] = _adapt_box(at)
    assert box.value is True
    at.radio(key="dataset_source").set_value("uploads").run()
    files = sorted((ROOT / "assets" / "demo" / "test").rglob("*.wav"))[:3]
    at.file_uploader(key="dataset_uploads").set_value([(f.name, f.read_bytes(), "audio/wav") for f in files]).run()
    assert not at.error and at.button(key="dataset_run")
    assert not _adapt_box(at)  # clips named by emotion only: no speaker to adapt to
    at.button(key="dataset_run").click().run()
    assert not at.exception and not at.error
    assert any("This model trained with speaker batches, so its card's figures are adapted ones: tick *Adapt to "
               "each speaker (AdaBN)* and press Analyse" in c.value for c in at.caption)  # what the user missed


@pytest.fixture
def heard_test_speakers_model(demo_model, tmp_path, monkeypatch):
    """The demo cnn-eca under a card saying it was trained on the demo test split's first speaker."""
    from dataclasses import replace

    from core import checkpoint

    model, card = demo_model
    first = load_manifest(ROOT / "assets" / "demo").filter(split="test").speakers()[0]
    folder = tmp_path / "models" / "heard"
    checkpoint.save(model, replace(card, data=dict(card.data) | {"speakers": [first]}), folder)
    monkeypatch.setenv("SERWB_MODELS", str(tmp_path / "models"))
    return folder, first


def test_scores_on_speakers_the_model_trained_on_are_flagged_as_not_speaker_independent(heard_test_speakers_model):
    folder, first = heard_test_speakers_model
    at = go(start(model=folder), "dataset")
    at.selectbox(key="dataset_split").select("test").run()
    at.number_input(key="dataset_limit").set_value(20).run()  # 16 clips of the first test speaker, 4 of the next
    at.button(key="dataset_run").click().run()
    assert not at.exception and not at.error
    [warning] = [w.value for w in at.warning if "speaker-independent" in w.value]
    assert warning.startswith(f"16 of the 20 clips are by speakers this model was trained on ({first})")

    at = go(start(), "dataset")  # the demo card's training speakers are not the test split's: nothing to flag
    at.selectbox(key="dataset_split").select("test").run()
    at.number_input(key="dataset_limit").set_value(20).run()
    at.button(key="dataset_run").click().run()
    assert not any("speaker-independent" in w.value for w in at.warning)


@pytest.fixture
def fold_model(tmp_path, monkeypatch):
    """A real-speech cnn-eca (untrained) whose card says it never heard polish-m5, offered through SERWB_MODELS."""
    import torch

    from core import checkpoint, models
    from core.features import preset

    torch.manual_seed(0)
    folder = tmp_path / "models" / "fold"
    checkpoint.save(models.build("cnn-eca", 3, n=1),
                    {"labels": ["angry", "fearful", "neutral"], "features": preset("stft-v8"),
                     "training": {"seconds": 1.7, "padding": "noise-floor"},
                     "data": {"corpus": "polish", "speakers": [f"polish-m{k}" for k in range(1, 5)]}}, folder)
    monkeypatch.setenv("SERWB_MODELS", str(tmp_path / "models"))
    return folder


def test_the_real_cue_set_says_how_often_the_model_itself_ranks_the_planted_word_first(fold_model):
    at = go(start(model=fold_model), "dataset")
    at.text_input(key="dataset_folder").set_value("assets/polish-cue").run()
    assert any(c.value.startswith("40 planted-cue clips (polish-cue) to analyse, each scored by its planted word's")
               for c in at.caption)
    at.number_input(key="dataset_limit").set_value(8).run()
    at.button(key="dataset_run").click().run()  # a cue set alone: its clips are the ones scored, too
    assert not at.exception and not at.error
    assert _confusion(at).sum() == 8
    assert any("These are planted-cue clips" in c.value and "not the model's recognition figure" in c.value
               for c in at.caption)
    [table, by_emotion] = [d.value for d in at.dataframe if "method" in d.value.columns]
    assert list(table["clips"]) == [8]  # polish-m5's cue clips: the only voice this model never heard
    assert list(by_emotion["emotion"]) == ["angry", "fearful"] and by_emotion["clips"].sum() == 8
    assert 0 <= table["model_ranks_cue_first"][0] <= 1 and "pointing_where_model_ranks_cue_first" in table
    assert any("hearing each word alone" in c.value for c in at.caption)


def test_a_cue_set_the_model_heard_every_speaker_of_says_why_there_is_no_localisation_table():
    at = go(start(model=None), "dataset")  # the default: polish-cnn-eca, trained on all five speakers
    at.text_input(key="dataset_folder").set_value("assets/polish-cue").run()
    at.number_input(key="dataset_limit").set_value(4).run()
    at.button(key="dataset_run").click().run()
    assert not at.exception and not at.error
    assert not [d for d in at.dataframe if "method" in d.value.columns]
    assert any("judged only on planted-cue clips of speakers the model never heard" in i.value for i in at.info)
    assert any("not speaker-independent" in w.value for w in at.warning)
