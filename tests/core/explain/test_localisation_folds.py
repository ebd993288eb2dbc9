"""Localisation judged only on voices a model never heard: per fold model, pooled over folds."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core import checkpoint, models
from core.cli import main
from core.data.corpora import load_manifest
from core.explain.tables import localisation_results
from core.features import preset

ROOT = Path(__file__).resolve().parents[3]
CUE = ROOT / "assets" / "polish-cue"
LABELS = ["angry", "fearful", "neutral"]
SPEAKERS = [f"polish-m{k}" for k in range(1, 6)]


def _fold_model(folder: Path, heard: list[str]) -> Path:
    torch.manual_seed(0)
    model = models.build("cnn-eca", len(LABELS), n=1)
    card = {"labels": LABELS, "features": preset("stft-v8"), "training": {"seconds": 1.7, "padding": "noise-floor"},
            "data": {"corpus": "polish", "speakers": heard}}
    checkpoint.save(model, card, folder)
    return folder


@pytest.fixture(scope="module")
def cv_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("cv")
    _fold_model(root / "fold-1" / "model", [s for s in SPEAKERS if s != "polish-m5"])
    _fold_model(root / "fold-2" / "model", [s for s in SPEAKERS if s != "polish-m1"])
    return root


def test_a_model_is_not_judged_on_cue_clips_of_speakers_it_trained_on(cv_folder):
    model, card = checkpoint.load(cv_folder / "fold-1" / "model", device="cpu")
    cue = load_manifest(CUE)
    found = localisation_results(model, card, cue, methods=("gradcam",), device="cpu")
    assert len(found["gradcam"]) == sum(r.speaker == "polish-m5" for r in cue.rows) > 0


def test_evaluate_explanations_pools_the_fold_models_on_their_held_out_speakers(cv_folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["evaluate-explanations", str(cv_folder), "--corpus", str(CUE), "--methods", "gradcam",
                 "--out", str(out), "--quiet"]) == 0
    written = json.loads((out / "explanations.json").read_text())
    cue = load_manifest(CUE)
    held_out = sum(r.speaker in ("polish-m1", "polish-m5") for r in cue.rows)
    assert written["localisation"]["gradcam"]["clips"] == held_out
    assert len(written["folds"]) == 2 and "held out" in written["protocol"]
    assert "| gradcam |" in (out / "explanations.md").read_text()


def test_the_dataset_page_analysis_breaks_the_real_cue_table_down_by_planted_emotion(cv_folder):
    from core.explain.dataset import analyze_dataset

    model, card = checkpoint.load(cv_folder / "fold-1" / "model", device="cpu")  # held out: polish-m5
    cue = load_manifest(CUE)
    analysis = analyze_dataset(model, card, cue, methods=("gradcam",), device="cpu")
    assert analysis.cue_scored and len(analysis.paths) == len(cue.rows)  # a cue set alone: its clips are scored
    rows = [r for r in cue.rows if r.speaker == "polish-m5"]
    results = localisation_results(model, card, cue, methods=("gradcam",), device="cpu")["gradcam"]
    assert [(r["method"], r["emotion"]) for r in analysis.localisation_by_emotion] == \
        [("gradcam", "angry"), ("gradcam", "fearful")]
    for by in analysis.localisation_by_emotion:
        chosen = [r for r, row in zip(results, rows) if row.label == by["emotion"]]
        assert by["clips"] == len(chosen) > 0
        assert by["inside_share"] == pytest.approx(np.mean([r.inside_share for r in chosen]), abs=1e-6)
        assert by["model_ranks_cue_first"] == pytest.approx(np.mean([r.model_ranks_cue_first for r in chosen]))


def test_fold_models_that_heard_every_speaker_are_refused_with_a_reason(tmp_path, capsys):
    _fold_model(tmp_path / "cv" / "fold-1" / "model", SPEAKERS)
    assert main(["evaluate-explanations", str(tmp_path / "cv"), "--corpus", str(CUE), "--methods", "gradcam",
                 "--out", str(tmp_path / "out"), "--quiet"]) == 1
    assert "held out from the fold models" in capsys.readouterr().err


def test_what_occlusion_removes_is_chosen_on_the_command_line_and_recorded(cv_folder, tmp_path):
    shares = {}
    for removed in ("silence", "floor"):
        out = tmp_path / removed
        assert main(["evaluate-explanations", str(cv_folder), "--corpus", str(CUE), "--methods", "occlusion",
                     "--removed", removed, "--out", str(out), "--quiet"]) == 0
        written = json.loads((out / "explanations.json").read_text())
        assert written["removed"] == removed
        shares[removed] = written["localisation"]["occlusion"]["inside_share"]
    assert shares["silence"] != shares["floor"]  # the setting reached the method
    assert main(["evaluate-explanations", str(cv_folder), "--corpus", str(CUE), "--removed", "zeros",
                 "--out", str(tmp_path / "bad"), "--quiet"]) == 1


class Loudness(torch.nn.Module):
    """A real (untrained) network whose "angry" logit is the mean log-mel level: the loudest word is the most angry."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(1.0))

    def forward(self, x):
        level = x.mean(dim=(1, 2)) * self.scale
        return torch.stack([level, torch.zeros_like(level), -level], dim=1)


def _with_loud_word(row, loud: int):
    """The cue clip with every word but word ``loud`` 30 dB down."""
    from dataclasses import replace as with_

    from core.audio import load_audio

    clip = load_audio(row.path)
    wave = clip.wave.clone()
    starts = [int(v) for v in row.extra["word_start_samples"].split(";")]
    ends = [int(v) for v in row.extra["word_end_samples"].split(";")]
    for k, (s, e) in enumerate(zip(starts, ends)):
        if k != loud:
            wave[s:e] *= 10 ** (-30 / 20)
    return with_(clip, wave=wave), starts.index(int(row.extra["cue_start_sample"]))


def test_the_model_ranks_the_planted_word_first_only_when_it_scores_it_highest_alone():
    from core.explain.analysis import Settings
    from core.explain.tables import cue_word_first

    row = next(r for r in load_manifest(CUE).rows if int(r.extra["n_left"]) != int(r.extra["n_right"]))  # off centre
    card = checkpoint.Card(model="loudness", num_classes=3, labels=LABELS, features=preset("stft-v8"),
                           training={"seconds": 1.7, "padding": "noise-floor"})
    model, angry = Loudness().eval(), Settings(target=0, audio=False)
    clip, cue = _with_loud_word(row, loud=int(row.extra["n_left"]))
    assert cue == int(row.extra["n_left"])
    assert cue_word_first(clip, row, model, card, angry, device="cpu") is True
    for other in {0, cue + 1} - {cue}:
        clip, _ = _with_loud_word(row, loud=other)
        assert cue_word_first(clip, row, model, card, angry, device="cpu") is False
    # "neutral" falls with the level: the planted loud word is then the least neutral, never first
    clip, _ = _with_loud_word(row, loud=cue)
    assert cue_word_first(clip, row, model, card, Settings(target=2, audio=False), device="cpu") is False


def test_pointing_is_reported_on_the_clips_where_the_model_ranks_the_planted_word_first():
    from core.explain.evaluate import Localisation
    from core.explain.tables import summarise_localisation

    results = [Localisation(0.5, True, 0.2, True), Localisation(0.1, False, 0.2, True),
               Localisation(0.3, True, 0.2, False), Localisation(0.2, True, 0.2, True)]
    row = summarise_localisation({"gradcam": results})["gradcam"]
    assert row["model_ranks_cue_first"] == 0.75
    assert row["pointing_where_model_ranks_cue_first"] == pytest.approx(2 / 3)
    assert row["pointing_accuracy"] == 0.75
    plain = summarise_localisation({"gradcam": [Localisation(0.5, True, 0.2)]})["gradcam"]
    assert "model_ranks_cue_first" not in plain  # clips without word spans (the synthetic cue set)


def test_the_localisation_table_is_broken_down_by_planted_emotion():
    from core.explain.evaluate import Localisation
    from core.explain.tables import localisation_tables

    angry = [Localisation(0.6, True, 0.2, True, "angry"), Localisation(0.4, True, 0.2, True, "angry")]
    fearful = [Localisation(0.1, False, 0.3, False, "fearful"), Localisation(0.3, True, 0.3, True, "fearful"),
               Localisation(0.2, False, 0.3, False, "fearful")]
    found = localisation_tables({"gradcam": angry + fearful, "lime": fearful})
    by = found["localisation by emotion"]
    assert list(by) == ["gradcam: angry", "gradcam: fearful", "lime: fearful"]  # no row for an emotion with no clip
    assert by["gradcam: angry"]["clips"] == 2 and by["gradcam: angry"]["inside_share"] == pytest.approx(0.5)
    assert by["gradcam: fearful"]["model_ranks_cue_first"] == pytest.approx(1 / 3)
    assert by["gradcam: fearful"]["pointing_where_model_ranks_cue_first"] == 1.0
    assert by["gradcam: fearful"]["chance"] == pytest.approx(0.3)
    assert found["localisation"]["gradcam"]["clips"] == 5
    assert "localisation by emotion" not in localisation_tables({"gradcam": angry})  # one emotion: nothing to split


def test_fold_localisation_says_how_often_the_model_ranks_the_planted_word_first(cv_folder):
    model, card = checkpoint.load(cv_folder / "fold-1" / "model", device="cpu")
    found = localisation_results(model, card, load_manifest(CUE), methods=("gradcam",), device="cpu")
    assert all(r.model_ranks_cue_first in (True, False) for r in found["gradcam"])


def test_fold_models_can_be_adapted_to_their_held_out_speakers_clips_before_explaining(cv_folder, tmp_path):
    """--adapt-to: each fold model explains its held-out speaker's cue clips as a copy whose BatchNorm statistics
    are that speaker's corpus clips (AdaBN), the way cross-validation scored it."""
    from dataclasses import replace

    from core.explain.dataset import adapted_models

    polish = load_manifest(ROOT / "assets" / "polish")
    out = tmp_path / "out"
    assert main(["evaluate-explanations", str(cv_folder), "--corpus", str(CUE), "--methods", "gradcam",
                 "--adapt-to", str(polish.root), "--out", str(out), "--quiet"]) == 0
    written = json.loads((out / "explanations.json").read_text())
    assert written["adaptation"]["speakers"] == {"polish-m1": 90, "polish-m5": 90}

    model, card = checkpoint.load(cv_folder / "fold-1" / "model", device="cpu")  # held out: polish-m5
    own = replace(polish, rows=tuple(r for r in polish.rows if r.speaker == "polish-m5"))
    adapted, _ = adapted_models(model, card, own, torch.device("cpu"))
    cue = load_manifest(CUE)
    expected = localisation_results(adapted["polish-m5"], card, cue, methods=("gradcam",), device="cpu")["gradcam"]
    plain = localisation_results(model, card, cue, methods=("gradcam",), device="cpu")["gradcam"]
    assert [r.inside_share for r in expected] != [r.inside_share for r in plain]  # adapting changed the maps
    model, card = checkpoint.load(cv_folder / "fold-2" / "model", device="cpu")
    own = replace(polish, rows=tuple(r for r in polish.rows if r.speaker == "polish-m1"))
    adapted, _ = adapted_models(model, card, own, torch.device("cpu"))
    expected += localisation_results(adapted["polish-m1"], card, cue, methods=("gradcam",), device="cpu")["gradcam"]
    row = written["localisation"]["gradcam"]
    assert row["clips"] == len(expected)
    assert row["inside_share"] == pytest.approx(np.mean([r.inside_share for r in expected]))
    by = written["localisation by emotion"]
    assert sum(by[f"gradcam: {e}"]["clips"] for e in ("angry", "fearful")) == len(expected)


def test_adapting_to_a_corpus_without_the_held_out_speakers_says_where_to_point(cv_folder, tmp_path, capsys):
    assert main(["evaluate-explanations", str(cv_folder), "--corpus", str(CUE), "--methods", "gradcam",
                 "--adapt-to", str(ROOT / "assets" / "demo"), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    assert "fewer than 8 clips there to adapt to" in capsys.readouterr().err
