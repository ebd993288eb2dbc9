"""`serwb explain` and `serwb evaluate-explanations` on the shipped demo model and corpus."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

from core.cli import main

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "assets" / "models" / "cnn-eca"
DEMO = ROOT / "assets" / "demo"


def _demo_rows(split: str) -> list[dict]:
    with (DEMO / "manifest.csv").open(newline="") as f:
        return [r for r in csv.DictReader(f) if r["split"] == split]


def test_explain_writes_overlays_maps_audio_and_scores(tmp_path, capsys):
    clip = DEMO / _demo_rows("test")[0]["path"]
    out = tmp_path / "out"
    assert main(["explain", str(clip), "--model", str(MODEL), "--methods", "gradcam,occlusion",
                 "--target", "sad", "--out", str(out), "--quiet"]) == 0
    assert "predicted" in capsys.readouterr().out
    summary = json.loads((out / "analysis.json").read_text())
    assert summary["target"] == "sad" and abs(sum(summary["probabilities"].values()) - 1) < 1e-4
    metrics = summary["metrics"]
    assert set(metrics["agreement"]) == {"gradcam vs occlusion"}
    assert -1 <= metrics["agreement"]["gradcam vs occlusion"]["rank_correlation"] <= 1
    assert set(metrics["faithfulness"]) == {"gradcam", "occlusion", "random"}
    assert all(0 <= auc <= 1 for row in metrics["faithfulness"].values() for auc in row.values())
    assert {p.name for p in out.glob("overlay-*.png")} == {"overlay-gradcam.png", "overlay-occlusion.png"}
    maps = np.load(out / "maps.npz")
    assert maps["gradcam_values"].shape == maps["spectrogram"].shape == maps["occlusion_values"].shape
    focus, sr = sf.read(out / "audio-focus.wav")
    original, _ = sf.read(out / "audio-original.wav")
    assert sr == 16_000 and len(focus) == len(original) and np.abs(focus).sum() < np.abs(original).sum()


def test_explain_reports_user_errors_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    assert main(["explain", str(bad), "--model", str(MODEL), "--out", str(tmp_path / "o")]) == 1
    assert "serwb:" in capsys.readouterr().err
    clip = DEMO / _demo_rows("test")[0]["path"]
    assert main(["explain", str(clip), "--model", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    assert main(["explain", str(clip), "--model", str(MODEL), "--methods", "gradcam,shap",
                 "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "shap" in err
    assert not (tmp_path / "o").exists()


def test_evaluate_explanations_writes_the_three_tables(tmp_path, capsys):
    """On a corpus cut to three planted-cue clips and four test clips, so it stays quick."""
    corpus = tmp_path / "corpus"
    rows = _demo_rows("cue")[::6] + _demo_rows("test")[::12]
    for r in rows:
        (corpus / r["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEMO / r["path"], corpus / r["path"])
    with (corpus / "manifest.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "tables"
    assert main(["evaluate-explanations", str(MODEL), "--corpus", str(corpus), "--methods", "gradcam,occlusion",
                 "--max-clips", "2", "--out", str(out), "--quiet"]) == 0
    tables = json.loads((out / "explanations.json").read_text())
    for method in ("gradcam", "occlusion"):
        row = tables["localisation"][method]
        assert row["clips"] == 3 and 0 <= row["inside_share"] <= 1 and 0 <= row["pointing_accuracy"] <= 1
        assert 0 < row["chance"] < 1
        assert set(tables["faithfulness"][method]) >= {"deletion_auc", "insertion_auc"}
        assert tables["faithfulness"][method]["unit"] == "cells" and tables["faithfulness"][method]["baseline"] == "mean"
    assert -1 <= tables["sanity"]["gradcam_rank_correlation_fully_randomised"] <= 1
    text = (out / "explanations.md").read_text()
    assert "### localisation" in text and "| gradcam |" in text
    assert text in capsys.readouterr().out
    assert main(["evaluate-explanations", str(MODEL), "--corpus", str(corpus), "--unit", "pixels",
                 "--out", str(out)]) == 1
    assert "--unit must be one of frames, bands, cells" in capsys.readouterr().err
