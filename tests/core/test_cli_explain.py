"""`serwb explain` and `serwb evaluate-explanations` on the shipped demo model and corpus."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core import checkpoint, features, figures, models
from core.cli import main

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "assets" / "models" / "cnn-eca"
DEMO = ROOT / "assets" / "demo"
#: The real-speech model: trained on 1.7 s, it pads shorter clips.
POLISH_MODEL = ROOT / "assets" / "models" / "polish-cnn-eca"


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


def test_explain_of_a_short_word_draws_the_clip_and_says_where_it_lies_in_the_padded_maps(tmp_path, capsys,
                                                                                          monkeypatch):
    """The shortest real Polish word (about 0.48 s), padded to the model's 1.7 s: the overlays span the word,
    the maps stay whole, and the JSON and NPZ give the offset that lines them up."""
    model = POLISH_MODEL
    if not (model / "card.json").is_file():  # a stand-in with the same card fields, if the model is not shipped
        model = tmp_path / "model"
        checkpoint.save(models.build("cnn-eca", 3, n=1), {"labels": ["angry", "fearful", "neutral"],
                                                           "features": features.preset("stft-v8"),
                                                           "training": {"seconds": 1.7, "padding": "noise-floor"}},
                        model)
    clip = min(sorted((ROOT / "assets" / "polish").glob("*.flac")), key=lambda p: sf.info(p).duration)
    duration = sf.info(clip).duration
    drawn = {}

    def overlay_figure(analysis, method, **kwargs):
        fig = real_overlay_figure(analysis, method, **kwargs)
        drawn[method] = (fig.axes[0].get_xlim(), analysis.clip_offset, analysis.clip_duration)
        return fig

    real_overlay_figure = figures.overlay_figure
    monkeypatch.setattr(figures, "overlay_figure", overlay_figure)
    out = tmp_path / "out"
    assert main(["explain", str(clip), "--model", str(model), "--methods", "gradcam,occlusion",
                 "--out", str(out), "--quiet"]) == 0
    assert "padded to the model's training length" in capsys.readouterr().out
    assert set(drawn) == {"gradcam", "occlusion"}
    (_, offset, clip_duration), = set(drawn.values())
    assert clip_duration == pytest.approx(duration, abs=1e-6) and offset > 0.5
    assert all(xlim == pytest.approx((0.0, duration), abs=1e-6) for xlim, _, _ in drawn.values())

    summary = json.loads((out / "analysis.json").read_text())
    assert summary["clip_offset"] == pytest.approx(offset) and summary["clip_duration"] == pytest.approx(duration)
    assert summary["model_input_seconds"] == pytest.approx(1.7, abs=1e-3)
    assert summary["clip"] == str(clip.resolve())  # the CLI's own provenance keys stay
    maps = np.load(out / "maps.npz")
    assert float(maps["clip_offset"]) == pytest.approx(offset)
    assert float(maps["clip_duration"]) == pytest.approx(duration)
    times = maps["frame_times"]
    assert maps["gradcam_values"].shape[-1] == len(times) and times[-1] > 1.6  # the whole input, padding included
    lo, hi = maps["clip_frames"]
    assert summary["clip_frames"] == [lo, hi]
    on_clip = times[lo:hi] - offset
    assert on_clip[0] >= 0 and on_clip[-1] <= duration and on_clip[0] < 0.01 and on_clip[-1] > duration - 0.01
    original, sr = sf.read(out / "audio-original.wav")
    assert len(original) == round(1.7 * sr)  # the audio is what the model heard


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
    for method in ("gradcam", "occlusion"):  # every method asked for, not only Grad-CAM
        assert -1 <= tables["sanity"][method]["rank_correlation_fully_randomised"] <= 1
    text = (out / "explanations.md").read_text()
    assert "### localisation" in text and "| gradcam |" in text
    assert text in capsys.readouterr().out
    assert main(["evaluate-explanations", str(MODEL), "--corpus", str(corpus), "--unit", "pixels",
                 "--out", str(out)]) == 1
    assert "--unit must be one of frames, bands, cells" in capsys.readouterr().err
