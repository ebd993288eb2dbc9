"""The Export ZIPs: every part present, readable by its own library, and equal to what was analysed."""

import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core import checkpoint
from core.audio import load_audio
from core.data.corpora import load_manifest
from core.explain import LimeSettings, OcclusionSettings, Settings, analyze, export
from core.explain.dataset import analyze_dataset

ROOT = Path(__file__).resolve().parents[3]
MODEL = ROOT / "assets" / "models" / "cnn-eca"
SETTINGS = Settings(lime=LimeSettings(num_samples=40, seed=7),
                    occlusion=OcclusionSettings(window_ms=400.0, stride_ms=200.0), griffin_lim_iters=32)


@pytest.fixture(scope="module")
def demo():
    model, card = checkpoint.load(MODEL, "cpu")
    return model, card, checkpoint.checkpoint_hash(MODEL)


@pytest.fixture(scope="module")
def analysis(demo):
    model, card, _ = demo
    path = sorted((ROOT / "assets" / "demo" / "test").rglob("*.wav"))[0]
    return analyze(load_audio(path), model, card, settings=SETTINGS, device="cpu")


def _pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", data))


def test_analysis_zip_holds_overlays_pdf_maps_wavs_and_provenance(analysis, demo):
    model, card, model_hash = demo
    data = export.analysis_zip(analysis, card=card, checkpoint_hash=model_hash, clip_name="clip.wav")
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = set(zf.namelist())
    assert {f"overlays/overlay-{m}.png" for m in ("gradcam", "occlusion", "lime")} <= names
    for m in ("gradcam", "occlusion", "lime"):
        assert zf.read(f"overlays/overlay-{m}.png")[:8] == b"\x89PNG\r\n\x1a\n"

    pdf = zf.read("report.pdf")
    assert pdf.startswith(b"%PDF") and _pdf_pages(pdf) == 3 + len(analysis.maps)  # title, bars, maps, curves

    maps = np.load(io.BytesIO(zf.read("maps.npz")))
    np.testing.assert_array_equal(maps["spectrogram"], analysis.spectrogram)
    for name, m in analysis.maps.items():
        np.testing.assert_array_equal(maps[f"{name}_values"], m.values)
    np.testing.assert_array_equal(maps["focus_gate"], analysis.focus_gate)

    assert {f"audio/{n}.wav" for n in analysis.audio} <= names and "audio/focus.wav" in names
    for name, version in analysis.audio.items():
        samples, sr = sf.read(io.BytesIO(zf.read(f"audio/{name}.wav")), dtype="float32")
        assert sr == analysis.sr and len(samples) == version.wave.shape[-1]
        np.testing.assert_allclose(samples, np.clip(version.wave.numpy(), -1, 1), atol=2 / 32767)

    info = json.loads(zf.read("analysis.json"))
    assert info["probabilities"] == pytest.approx(dict(zip(card.labels, map(float, analysis.probabilities))))
    assert info["features"] == analysis.cfg.to_dict()
    provenance = info["provenance"]
    assert provenance["model"]["checkpoint_hash"] == model_hash
    assert provenance["model"]["weights_sha256"] == card.weights_sha256
    assert provenance["seeds"] == {"training": card.training["seed"], "lime": 7, "occlusion": 0}
    assert provenance["clip"] == {"name": "clip.wav", "sha256": analysis.clip_sha256}
    assert info["settings"]["lime"]["num_samples"] == 40


def test_dataset_zip_holds_figures_pdf_arrays_and_metrics(demo):
    model, card, model_hash = demo
    manifest = load_manifest(ROOT / "assets" / "demo").filter(split="test").take(range(6))
    dataset = analyze_dataset(model, card, manifest, methods=("gradcam",), device="cpu")
    data = export.dataset_zip(dataset, card=card, checkpoint_hash=model_hash, source="demo test")
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = set(zf.namelist())
    expected = {"figures/confusion.png", "figures/tsne.png", "figures/profile-gradcam.png",
                "figures/eca-blocks.4.eca.png", "figures/eca-blocks.5.eca.png", "report.pdf", "dataset.npz",
                "dataset.json"}
    assert expected <= names
    pdf = zf.read("report.pdf")
    assert pdf.startswith(b"%PDF") and _pdf_pages(pdf) == 1 + 5
    arrays = np.load(io.BytesIO(zf.read("dataset.npz")))
    np.testing.assert_array_equal(arrays["confusion"], dataset.confusion)
    assert arrays["confusion"].sum() == 6
    info = json.loads(zf.read("dataset.json"))
    assert info["metrics"]["UA"] == pytest.approx(dataset.metrics["UA"])
    assert len(info["clips"]) == 6 and info["provenance"]["model"]["checkpoint_hash"] == model_hash
