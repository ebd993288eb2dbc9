"""The Export ZIPs: every part present, readable by its own library, and equal to what was analysed; the PDF
reports A4 throughout, in the order a reviewer reads them, every text inside its page; every entry mode 0644."""

import io
import json
import re
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.table import Table as MplTable
from matplotlib.text import Text

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


#: A4 portrait in PDF points (8.27 x 11.69 in).
A4_POINTS = (595.44, 841.68)


@pytest.fixture(scope="module")
def dataset(demo):
    model, card, _ = demo
    manifest = load_manifest(ROOT / "assets" / "demo").filter(split="test").take(range(6))
    return analyze_dataset(model, card, manifest, methods=("gradcam",), device="cpu")


def _pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", data))


def _media_boxes(data: bytes) -> list[tuple[float, float]]:
    """Width and height (points) of every page of a PDF."""
    return [(float(w), float(h)) for w, h in
            re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)]


def _assert_a4(data: bytes, pages: int) -> None:
    assert data.startswith(b"%PDF") and _pdf_pages(data) == pages
    boxes = _media_boxes(data)
    assert len(boxes) == pages
    assert all(box == pytest.approx(A4_POINTS, abs=0.5) for box in boxes), boxes


def _assert_modes(zf: zipfile.ZipFile) -> None:
    """Every entry unpacks as a regular file, rw-r--r--."""
    for info in zf.infolist():
        assert (info.external_attr >> 16) & 0o777 == 0o644, (info.filename, oct(info.external_attr >> 16))
        assert info.create_system == 3 and info.date_time[0] >= 2024


def _texts(fig) -> list[str]:
    """Every text drawn on a page, table cells included (each cell's lines joined by spaces)."""
    cells = [c.get_text() for table in fig.findobj(MplTable) for c in table.get_celld().values()]
    return [t.get_text().replace("\n", " ") for t in [*fig.findobj(Text), *cells] if t.get_text()]


def _assert_text_inside(fig) -> None:
    """Every text of a page lies inside the page, and every table cell's text inside its cell."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer, page = canvas.get_renderer(), fig.bbox
    undrawn = set()  # tick labels outside an axis' view: kept by matplotlib, never drawn
    for ax in fig.findobj(Axes):
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not low - 1e-9 <= tick.get_loc() <= high + 1e-9:
                    undrawn |= {id(tick.label1), id(tick.label2)}
    for text in fig.findobj(Text):
        if text.get_text() and text.get_visible() and id(text) not in undrawn:
            box = text.get_window_extent(renderer)
            assert page.x0 - 0.5 <= box.x0 and box.x1 <= page.x1 + 0.5 and page.y0 - 0.5 <= box.y0 \
                and box.y1 <= page.y1 + 0.5, (text.get_text(), box, page)
    for table in fig.findobj(MplTable):
        for cell in table.get_celld().values():
            box, room = cell.get_text().get_window_extent(renderer), cell.get_window_extent(renderer)
            assert room.x0 - 0.5 <= box.x0 and box.x1 <= room.x1 + 0.5 and room.y0 - 0.5 <= box.y0 \
                and box.y1 <= room.y1 + 0.5, (cell.get_text().get_text(), box, room)


def test_analysis_zip_holds_overlays_pdf_maps_wavs_and_provenance(analysis, demo):
    model, card, model_hash = demo
    data = export.analysis_zip(analysis, card=card, checkpoint_hash=model_hash, clip_name="clip.wav")
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = set(zf.namelist())
    assert {f"overlays/overlay-{m}.png" for m in ("gradcam", "occlusion", "lime")} <= names
    for m in ("gradcam", "occlusion", "lime"):
        assert zf.read(f"overlays/overlay-{m}.png")[:8] == b"\x89PNG\r\n\x1a\n"

    _assert_modes(zf)
    # the clip; the overlays and the time curves two to a page; scores, timings and errors; provenance
    _assert_a4(zf.read("report.pdf"), 1 + (len(analysis.maps) + 2) // 2 + 1 + 1)

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


def test_dataset_zip_holds_figures_pdf_arrays_and_metrics(demo, dataset):
    model, card, model_hash = demo
    data = export.dataset_zip(dataset, card=card, checkpoint_hash=model_hash, source="demo test")
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = set(zf.namelist())
    expected = {"figures/confusion.png", "figures/tsne.png", "figures/profile-gradcam.png",
                "figures/eca-blocks.4.eca.png", "figures/eca-blocks.5.eca.png", "report.pdf", "dataset.npz",
                "dataset.json"}
    assert expected <= names
    _assert_modes(zf)
    _assert_a4(zf.read("report.pdf"), 1 + 3 + 1)  # the tables; 5 figures two to a page; provenance
    arrays = np.load(io.BytesIO(zf.read("dataset.npz")))
    np.testing.assert_array_equal(arrays["confusion"], dataset.confusion)
    assert arrays["confusion"].sum() == 6
    info = json.loads(zf.read("dataset.json"))
    assert info["metrics"]["UA"] == pytest.approx(dataset.metrics["UA"])
    assert info["cue_scored"] is dataset.cue_scored is False
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
    _assert_modes(zf)


def test_the_clip_page_shows_prediction_waveform_and_spectrogram_on_the_clip_timeline(padded):
    analysis, _ = padded
    seconds = analysis.clip_seconds
    page = figures.clip_page(analysis, "serwb analysis: word.flac", ["clip: word.flac"])
    assert tuple(page.get_size_inches()) == pytest.approx((8.27, 11.69))
    axes = {ax.get_title(): ax for ax in page.axes}
    [bars] = [ax for title, ax in axes.items() if title.startswith("prediction:")]
    np.testing.assert_allclose([p.get_width() for p in bars.patches], analysis.probabilities, rtol=1e-6)

    wave_ax = axes["waveform (what the model hears, padding cropped)"]
    [line] = wave_ax.get_lines()
    x, y = line.get_xdata(), line.get_ydata()
    assert x.min() >= 0 and x.max() <= seconds + 1e-9 and x.max() > seconds - 0.01
    assert wave_ax.get_xlim() == pytest.approx((0.0, seconds)) and wave_ax.get_xlabel() == "time (s)"
    start = int(round(analysis.clip_offset * analysis.sr))  # the clip's own samples, the padding cropped
    clip = analysis.audio["original"].wave.numpy()[start:start + int(round(seconds * analysis.sr))]
    assert (y.min(), y.max()) == pytest.approx((clip.min(), clip.max()))

    spec_ax = axes["log-mel spectrogram (model input)"]
    window, _ = analysis.on_clip(analysis.frame_times)
    [image] = spec_ax.get_images()
    np.testing.assert_array_equal(image.get_array(), analysis.spectrogram[:, window])
    assert spec_ax.get_xlim() == pytest.approx((0.0, seconds)) and spec_ax.get_xlabel() == "time (s)"
    assert spec_ax.get_ylabel() == "frequency (Hz, mel scale)"
    assert [t.get_text() for t in spec_ax.get_yticklabels()][-1] == f"{analysis.band_hz[-1]:.0f}"
    _assert_text_inside(page)  # draws the page: the layout is done
    wave_box, spec_box = wave_ax.get_window_extent(), spec_ax.get_window_extent()
    assert (wave_box.x0, wave_box.x1) == pytest.approx((spec_box.x0, spec_box.x1))  # the time axes line up


def test_the_explain_report_reads_clip_overlays_tables_then_provenance(analysis, demo):
    model, card, model_hash = demo
    info = export.provenance(card, model_hash, clip_name="clip.wav", clip_sha256=analysis.clip_sha256,
                             methods=list(analysis.maps), settings=analysis.settings.to_dict())
    pages = export.analysis_pages(analysis, info)
    assert all(tuple(p.get_size_inches()) == pytest.approx((8.27, 11.69)) for p in pages)
    titles = [[ax.get_title() for ax in p.axes] for p in pages]
    assert "waveform (what the model hears, padding cropped)" in titles[0]
    assert "log-mel spectrogram (model input)" in titles[0] and "serwb analysis: clip.wav" in _texts(pages[0])
    target = analysis.labels[analysis.target]
    overlays = [t for page in titles[1:3] for t in page if " for '" in t]
    assert overlays == [f"{title} for '{target}' ({analysis.maps[m].seconds * 1000:.0f} ms)"
                        for m, title in zip(analysis.maps, ("Grad-CAM", "Occlusion", "LIME"))]
    assert [len([t for t in page if t]) for page in titles[1:3]] == [2, 2]  # two to a page, the curves last
    assert "Probabilities of each audio version" in _texts(pages[3]) and "Timings" in _texts(pages[3])
    assert set(analysis.audio) <= set(_texts(pages[3]))
    last = _texts(pages[-1])
    assert "Provenance" in last and analysis.clip_sha256 in last and model_hash in last
    assert card.weights_sha256 in last
    seeds = last[last.index("seeds") + 1]  # the cell beside its name
    assert set(seeds.split(", ")) == {f"training={card.training['seed']}", "lime=7", "occlusion=0"}
    for page in pages:
        _assert_text_inside(page)


def test_the_dataset_report_opens_with_every_table_of_the_dataset_page(demo, dataset):
    _, card, model_hash = demo
    cues = [{"method": "gradcam", "inside_share": 0.642, "pointing_accuracy": 0.944, "chance": 0.221, "clips": 18},
            {"method": "occlusion", "inside_share": 0.384, "pointing_accuracy": 0.889, "chance": 0.221, "clips": 18}]
    broken = {f"/corpus/broken/clip-{i:02d}-with-a-long-name.wav": "could not be decoded: Format not recognised "
              "(the file is truncated or not audio at all)" for i in range(3)}
    result = replace(dataset, localisation=cues, skipped=broken)
    info = export.provenance(card, model_hash) | {"source": "demo test", "dataset_key": result.key}
    pages = export.dataset_pages(result, info, "demo test", card.features.to_dict())
    assert all(tuple(p.get_size_inches()) == pytest.approx((8.27, 11.69)) for p in pages)
    first = _texts(pages[0])
    for heading in ("Metrics", "Per-class recall and confusion", "Localisation on the planted-cue clips",
                    "3 clip(s) left out (could not be read)"):
        assert heading in first
    assert {"UA", "WA", "ACC", "chance UA", f"{result.metrics['chance_UA']:.1%}"} <= set(first)
    assert {"gradcam", "occlusion", "inside_share", "pointing_accuracy", "chance", "0.642", "0.889"} <= set(first)
    recall = [f"{r:.1%}" for r in result.metrics["per_class_recall"].values() if r is not None]
    assert set(recall) <= set(first) and set(result.labels) <= set(first)
    assert any("clip-02" in t for t in first)
    assert not any(ax.get_title() for ax in pages[0].axes)  # the figures come after the tables
    assert "confusion matrix (rows: true emotion, columns: predicted)" in [ax.get_title() for ax in pages[1].axes]
    last = _texts(pages[-1])
    assert "Provenance" in last and result.key in last and model_hash in last
    for page in pages:
        _assert_text_inside(page)
