"""Localisation judged only on voices a model never heard: per fold model, pooled over folds."""

import json
from pathlib import Path

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
