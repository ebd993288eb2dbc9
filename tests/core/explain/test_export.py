"""The Export ZIPs: every part present, readable by its own library, and equal to what was analysed."""

import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core import checkpoint, features, figures, models
from core.audio import load_audio
from core.data.corpora import load_manifest
from core.explain import LimeSettings, OcclusionSettings, Settings, analyze, export
from core.explain.dataset import analyze_dataset

ROOT = Path(__file__).resolve().parents[3]
MODEL = ROOT / "assets" / "models" / "cnn-eca"
#: The real-speech model: trained on 1.7 s, it pads shorter clips (a Polish word is about 0.5-1.6 s).
POLISH_MODEL = ROOT / "assets" / "models" / "polish-cnn-eca"
SETTINGS = Settings(methods={"lime": LimeSettings(num_samples=40, seed=7),
                             "occlusion": OcclusionSettings(window_ms=400.0, stride_ms=200.0)}, griffin_lim_iters=32)


@pytest.fixture(scope="module")
def demo():
    model, card = checkpoint.load(MODEL, "cpu")
    return model, card, checkpoint.checkpoint_hash(MODEL)


@pytest.fixture(scope="module")
def analysis(demo):
    model, card, _ = demo
    path = sorted((ROOT / "assets" / "demo" / "test").rglob("*.wav"))[0]
    return analyze(load_audio(path), model, card, settings=SETTINGS, device="cpu")


@pytest.fixture(scope="module")
def padded(tmp_path_factory):
    """The shortest real Polish word (about 0.48 s) explained by a model that pads it to 1.7 s."""
    path = POLISH_MODEL
    if not (path / "card.json").is_file():  # a stand-in with the same card fields, if the model is not shipped
        path = tmp_path_factory.mktemp("padding-model") / "model"
        checkpoint.save(models.build("cnn-eca", 3, n=1), {"labels": ["angry", "fearful", "neutral"],
                                                           "features": features.preset("stft-v8"),
                                                           "training": {"seconds": 1.7, "padding": "noise-floor"}},
                        path)
    model, card = checkpoint.load(path, "cpu")
    clip = min((load_audio(p) for p in sorted((ROOT / "assets" / "polish").glob("*.flac"))), key=lambda c: c.duration)
    analysis = analyze(clip, model, card, settings=SETTINGS, device="cpu")
    assert analysis.clip_offset > 0.5 and clip.duration < 0.6  # the model heard mostly padding
    return analysis, card


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
    assert info["settings"]["methods"]["lime"]["num_samples"] == 40


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


def test_exported_figures_of_a_padded_clip_are_on_the_clip_timeline_and_the_data_says_where_it_lies(padded):
    analysis, card = padded
    seconds = analysis.clip_seconds
    window, _ = analysis.on_clip(analysis.frame_times)
    assert 0 < window.stop - window.start < len(analysis.frame_times)
    for method in analysis.maps:
        fig = figures.overlay_figure(analysis, method)
        ax = fig.axes[0]
        assert ax.get_xlim() == pytest.approx((0.0, seconds))
        underlay, overlay = ax.get_images()
        for image in (underlay, overlay):  # the padding cropped: only the frames on the clip, placed on 0..seconds
            assert image.get_array().shape == (len(analysis.band_hz), window.stop - window.start)
            left, right, _, _ = image.get_extent()
            assert abs(left) <= analysis.cfg.hop_ms / 1000 and abs(right - seconds) <= analysis.cfg.hop_ms / 1000
        np.testing.assert_array_equal(underlay.get_array(), analysis.spectrogram[:, window])

    fig = figures.time_curves_figure(analysis)
    ax = fig.axes[0]
    assert ax.get_xlim() == pytest.approx((0.0, seconds))
    for line in ax.get_lines():
        assert line.get_xdata().min() >= 0 and line.get_xdata().max() <= seconds + 1e-9
    gate = ax.collections[0].get_paths()[0].vertices[:, 0]
    assert gate.min() >= 0 and gate.max() <= seconds + 1e-9 and gate.max() > seconds - 0.01

    zf = zipfile.ZipFile(io.BytesIO(export.analysis_zip(analysis, card=card, clip_name="word.flac")))
    info = json.loads(zf.read("analysis.json"))
    assert info["clip_offset"] == pytest.approx(analysis.clip_offset)
    assert info["clip_duration"] == pytest.approx(analysis.clip_duration)
    assert info["clip_frames"] == [window.start, window.stop]
    assert info["model_input_seconds"] == pytest.approx(1.7, abs=1e-3)
    assert "clip_offset" in info["timeline"]
    maps = np.load(io.BytesIO(zf.read("maps.npz")))
    assert float(maps["clip_offset"]) == pytest.approx(analysis.clip_offset)
    assert float(maps["clip_duration"]) == pytest.approx(analysis.clip_duration)
    np.testing.assert_array_equal(maps["frame_times"], analysis.frame_times)
    np.testing.assert_array_equal(maps["clip_frames"], [window.start, window.stop])
    for name, m in analysis.maps.items():  # the maps themselves stay whole: padding included
        np.testing.assert_array_equal(maps[f"{name}_values"], m.values)
        assert maps[f"{name}_values"].shape[-1] == len(analysis.frame_times)
    np.testing.assert_array_equal(maps["focus_gate"], analysis.focus_gate)
