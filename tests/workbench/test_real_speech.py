"""Real speech by default: the shipped real-speech model and real example clips come first, every model
says its domain (corpus, real or synthetic, speaker-independent UA against chance), and a short real word
is drawn on its own timeline in every figure, the padding the model heard cropped."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from wb_helpers import (DEMO_MODEL, REAL_CORPUS, REAL_MODEL, arr, charts, go, overlays, pick_demo, start, texts)

from core import checkpoint
from core.audio import load_audio
from core.checkpoint import Card
from core.data.corpora import load_manifest
from core.explain import Settings, analyze
from workbench import checkpoints, domain, state
from workbench.components import compare_figures, figures, listen_figures

POLISH_LABELS = ("angry", "fearful", "neutral")


def _write_card(folder: Path, corpus: str | None, labels=POLISH_LABELS) -> Path:
    folder.mkdir(parents=True)
    card = Card(model="cnn-eca", num_classes=len(labels), labels=labels, data={"corpus": corpus} if corpus else {})
    (folder / "card.json").write_text(json.dumps(card.to_dict()))
    return folder


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """An empty assets/models stand-in with no extra models offered; add checkpoints with ``_write_card``."""
    root = tmp_path / "models"
    root.mkdir()
    monkeypatch.setattr(checkpoints, "SHIPPED", root)
    monkeypatch.delenv("SERWB_MODELS", raising=False)
    return root


def test_the_default_model_is_a_shipped_real_speech_one_polish_cnn_eca_first(shipped, tmp_path, monkeypatch):
    for name in ("cnn-eca", "fusion"):
        _write_card(shipped / name, "serwb-demo", ("angry", "happy", "neutral", "sad"))
    assert Path(checkpoints.default(list(checkpoints.available()))).name == "cnn-eca"  # demo only: its S0 model

    _write_card(shipped / "a-real-model", "polish")
    assert Path(checkpoints.default(list(checkpoints.available()))).name == "a-real-model"  # real beats demo
    _write_card(shipped / "polish-cnn-atn", "polish")
    _write_card(shipped / "polish-cnn-eca", "polish")
    found = checkpoints.available()
    assert Path(checkpoints.default(list(found))).name == "polish-cnn-eca"
    assert [Path(p).name for p in found] == ["polish-cnn-eca", "polish-cnn-atn", "a-real-model", "cnn-eca", "fusion"]
    labels = {Path(p).name: label for p, label in found.items()}
    assert labels["polish-cnn-eca"] == "polish-cnn-eca (real Polish speech)"
    assert labels["cnn-eca"] == "cnn-eca (synthetic demo)"

    mine = _write_card(tmp_path / "mine", "serwb-demo", ("angry", "happy", "neutral", "sad"))
    monkeypatch.setenv("SERWB_MODELS", str(mine))  # a model given on the command line still wins
    found = checkpoints.available()
    assert checkpoints.default(list(found)) == str(mine.resolve())
    assert found[str(mine.resolve())] == f"mine (synthetic demo, {tmp_path})"


@pytest.fixture
def no_extra_models(monkeypatch):
    monkeypatch.delenv("SERWB_MODELS", raising=False)


def test_the_real_model_is_shipped_and_is_the_app_default(no_extra_models):
    assert (REAL_MODEL / "card.json").is_file(), "assets/models/polish-cnn-eca must ship"
    card = checkpoint.read_card(REAL_MODEL)
    assert card.data["corpus"] == "polish" and domain.is_real(card)
    assert set(card.labels) == set(POLISH_LABELS)
    assert checkpoints.default(list(checkpoints.available())) == str(REAL_MODEL.resolve())


def test_the_app_opens_on_the_real_model_with_real_example_clips_first_and_the_synthetic_ones_after(no_extra_models):
    at = start(model=None)
    assert at.selectbox(key="model").value == str(REAL_MODEL.resolve())
    shown = texts(at)
    [caption] = [c.value for c in at.caption if c.value.startswith("Trained on ")]
    assert caption.startswith("Trained on real Polish speech (Emotions in Polish speech recordings)")
    cv = checkpoint.read_card(REAL_MODEL).metrics.get("cv")
    if cv:  # the shipped card's own speaker-independent score (clip by clip, as the page predicts), against chance
        one = cv.get("unadapted", cv)
        assert f" · UA {one['mean']['UA']:.2f} ± {one['std']['UA']:.2f} " in caption and caption.endswith("chance 0.33")
        if "unadapted" in cv:
            assert f" · {cv['mean']['UA']:.2f} adapted to each speaker's clips · " in caption

    sets = at.selectbox(key="demo_set")
    assert sets.value == "real"
    assert sets.options[0].startswith("Real speech: Polish")
    assert "Synthetic demo (espeak-ng)" in sets.options and "Planted cues: synthetic demo" in sets.options
    assert sets.options.index("Synthetic demo (espeak-ng)") > 0

    offered = at.selectbox(key="demo_clip").options
    corpus = {r.path.name: r for r in load_manifest(REAL_CORPUS).rows}
    names = [o.split(" — ")[0] for o in offered]
    assert 6 <= len(names) <= 30 and all(n in corpus for n in names)  # a handful of real clips
    assert {corpus[n].label for n in names} == set(POLISH_LABELS)
    assert len({corpus[n].speaker for n in names}) >= 3
    assert "trained on every clip" in shown  # said plainly: these real clips are not unseen

    at.selectbox(key="demo_set").select("demo").run()  # the synthetic demo clips are one pick away
    synthetic = at.selectbox(key="demo_clip").options
    assert synthetic and all(o.split(" — ")[0].endswith(".wav") for o in synthetic)
    assert not any("cue" in o.split(" — ")[0] for o in synthetic)
    at.selectbox(key="demo_set").select("cue").run()
    cues = at.selectbox(key="demo_clip").options
    assert cues and all(o.startswith("cue") for o in cues)
    pick_demo(at, cues[0].split(" — ")[0])
    assert "planted" in texts(at) and at.selectbox(key="clip").value is not None


def test_the_demo_model_says_it_heard_synthetic_speech_and_its_held_out_ua():
    card = checkpoint.read_card(DEMO_MODEL)
    at = start()  # the demo cnn-eca
    ua = card.metrics["held_out"]["UA"]
    expected = (f"Trained on synthetic English speech (espeak-ng demo) · held-out UA {ua:.2f} · "
                f"chance {1 / len(card.labels):.2f}")
    assert expected in [c.value for c in at.caption]
    assert at.selectbox(key="model").options[at.selectbox(key="model").index] == "cnn-eca (synthetic demo)"


def test_the_score_names_its_protocol_and_chance_for_every_card_shape():
    def card(metrics, labels=POLISH_LABELS):
        return Card(model="cnn-eca", num_classes=len(labels), labels=labels, metrics=metrics)

    cv = {"k": 5, "grouped": True, "mean": {"UA": 0.584}, "std": {"UA": 0.082}, "folds": [{"fold": 1, "UA": 0.5}]}
    older = card({"protocol": "5-fold cross-validation on every clip", "cv": cv})  # folds without their protocol
    assert domain.score(older) == "UA 0.58 ± 0.08 speaker-independent 5-fold CV · chance 0.33"
    loso = card({"cv": cv | {"protocol": "leave-one-speaker-out (5 speakers)"}})
    assert domain.score(loso) == "UA 0.58 ± 0.08 leave-one-speaker-out · chance 0.33"
    adapted = card({"cv": cv | {"protocol": "leave-one-speaker-out (5 speakers); each test speaker's clips ...",
                                "unadapted": {"mean": {"UA": 0.614}, "std": {"UA": 0.077}}}})
    assert domain.score(adapted) == ("UA 0.61 ± 0.08 leave-one-speaker-out · 0.58 adapted to each speaker's clips · "
                                     "chance 0.33")
    held_out = card({"held_out": {"UA": 0.8958}}, ("angry", "happy", "neutral", "sad"))
    assert domain.score(held_out) == "held-out UA 0.90 · chance 0.25"
    assert domain.score(card({})) is None and domain.summary(card({})) is None


@pytest.fixture
def real_with_cv(tmp_path, monkeypatch):
    """The shipped real model with a leave-one-speaker-out result in its card (the shipped card's shape),
    offered through SERWB_MODELS."""
    folder = tmp_path / "models" / "polish-cv"
    shutil.copytree(REAL_MODEL, folder)
    data = json.loads((folder / "card.json").read_text())
    speakers = [f"polish-m{i}" for i in range(1, 6)]
    folds = [{"fold": i, "test_speakers": [s], "UA": 0.6 + 0.05 * i, "WA": 0.61 + 0.05 * i, "ACC": 0.6 + 0.05 * i,
              "test_clips": 90, "per_class_recall": {label: 0.7 for label in data["labels"]}}
             for i, s in enumerate(speakers, start=1)]
    ua = [f["UA"] for f in folds]
    data["metrics"]["protocol"] = "leave-one-speaker-out (5 speakers); final model trained on every clip"
    data["metrics"]["cv"] = {"k": 5, "grouped": True, "protocol": "leave-one-speaker-out (5 speakers)", "folds": folds,
                             "mean": {"UA": float(np.mean(ua)), "WA": 0.76, "ACC": 0.755},
                             "std": {"UA": float(np.std(ua)), "WA": 0.07, "ACC": 0.07}}
    (folder / "card.json").write_text(json.dumps(data))
    monkeypatch.setenv("SERWB_MODELS", str(folder.parent))
    return folder, data["metrics"]["cv"]


def test_the_sidebar_gives_the_speaker_independent_ua_and_the_card_lists_each_held_out_speaker(real_with_cv):
    folder, cv = real_with_cv
    at = start(model=None)  # a model given with --models is the default
    assert at.selectbox(key="model").value == str(folder.resolve())
    expected = (f"Trained on real Polish speech (Emotions in Polish speech recordings) · UA {cv['mean']['UA']:.2f} ± "
                f"{cv['std']['UA']:.2f} leave-one-speaker-out · chance 0.33")
    assert expected in [c.value for c in at.caption]

    pick_demo(at, at.selectbox(key="demo_clip").options[0].split(" — ")[0])
    assert not at.exception and not at.error
    shown = texts(at)
    assert "**Trained on:** Emotions in Polish speech recordings — Polish, real (acted) speech" in shown
    assert "CC BY" in shown and "Mięsikowska" in shown and "10.34808/h46c-hb44" in shown
    assert shown.count("leave-one-speaker-out (5 speakers)") == 1  # the protocol said once in the card
    [table] = [d.value for d in at.dataframe if "speaker" in d.value.columns]
    assert list(table["speaker"]) == [f["test_speakers"][0] for f in cv["folds"]]
    np.testing.assert_allclose(table["UA"], [f["UA"] for f in cv["folds"]])
    np.testing.assert_allclose(table["WA"], [f["WA"] for f in cv["folds"]])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["UA"] == f"{cv['mean']['UA']:.1%}" and metrics["Chance UA"] == "33.3%"


# ------------------------------------------------------------------------------ one timeline


def _short_real_clip():
    """The shortest of the real example clips: a word shorter than the model's training length."""
    sets, _ = state.clip_sets()
    row = min(sets["real"].rows, key=lambda r: load_audio(r.path).duration)
    return row.path


def _x_range(chart, axis="xaxis"):
    return chart["layout"][axis]["range"]


def test_a_short_real_word_is_drawn_on_its_own_timeline_in_the_waveform_and_every_map(no_extra_models):
    path = _short_real_clip()
    clip = load_audio(path)
    seconds = checkpoint.read_card(REAL_MODEL).training["seconds"]
    assert clip.duration < seconds - 0.2  # padded: the case that drew 0-1.08 s above 0-3 s maps
    at = pick_demo(start(model=None), path.name)
    assert not at.exception and not at.error
    found = overlays(at)
    assert len(found) == 3
    for chart in found:
        assert _x_range(chart) == pytest.approx([0.0, clip.duration], abs=1e-6)
        for trace in chart["data"]:  # the map and its grey spectrogram: the clip's frames only
            x = arr(trace["x"])
            assert x.min() >= 0 and x.max() <= clip.duration + 1e-6
            assert x.max() > clip.duration - 0.02  # ... all of them
            assert arr(trace["z"]).shape[-1] == len(x)
    [wave] = [c for c in charts(at) if c["data"][0].get("name") == "waveform"]
    assert _x_range(wave) == pytest.approx([0.0, clip.duration], abs=1e-6)
    [spec] = [c for c in charts(at) if c["data"][0]["type"] == "heatmap" and len(c["data"]) == 1]
    assert _x_range(spec) == pytest.approx([0.0, clip.duration], abs=1e-6)
    assert "padded to its training length" in texts(at) and "the padding cropped" in texts(at)

    at = go(at, "listen")  # the waveform and time curves of the Listen page: the same timeline
    assert not at.exception and not at.error
    [activation] = [c for c in charts(at) if any(d.get("name") == "waveform" for d in c["data"])
                    and any("summed over bands" in (d.get("name") or "") for d in c["data"])]
    for axis in ("xaxis", "xaxis2"):
        assert _x_range(activation, axis) == pytest.approx([0.0, clip.duration], abs=1e-6)
    for trace in activation["data"]:
        x = arr(trace["x"])
        assert x.min() >= 0 and x.max() <= clip.duration + 1e-6


@pytest.fixture(scope="module")
def real_analysis():
    model, card = checkpoint.load(REAL_MODEL, "cpu")
    clip = load_audio(_short_real_clip())
    return clip, analyze(clip, model, card, methods=("gradcam",), settings=Settings(griffin_lim_iters=0), device="cpu")


def test_the_figure_builders_crop_the_padding_and_shift_to_the_clip(real_analysis):
    clip, analysis = real_analysis
    assert analysis.clip_offset > 0 and analysis.clip_duration == pytest.approx(clip.duration)
    window, times = analysis.on_clip(analysis.frame_times)
    assert times[0] >= 0 and times[-1] <= clip.duration and window.stop - window.start == len(times)
    np.testing.assert_allclose(times + analysis.clip_offset, analysis.frame_times[window])

    fig = json.loads(figures.overlay(analysis, "gradcam").to_json())
    assert list(fig["layout"]["xaxis"]["range"]) == pytest.approx([0.0, clip.duration])
    np.testing.assert_allclose(arr(fig["data"][1]["x"]), times)
    np.testing.assert_allclose(arr(fig["data"][0]["z"]), analysis.spectrogram[:, window])  # the clip's own frames

    curves = json.loads(listen_figures.activation(analysis, 0.0).to_json())
    assert list(curves["layout"]["xaxis2"]["range"]) == pytest.approx([0.0, clip.duration])
    [waveform] = [d for d in curves["data"] if d["name"] == "waveform"]
    assert arr(waveform["x"]).max() <= clip.duration and len(arr(waveform["x"])) <= len(clip.wave)
    heard = analysis.audio["original"].wave.numpy()
    start_sample = int(round(analysis.clip_offset * analysis.sr))
    np.testing.assert_allclose(heard[start_sample:start_sample + len(clip.wave)], clip.wave.numpy(), atol=1e-6)

    branches = json.loads(compare_figures.branches(analysis, ["gradcam"]).to_json())
    assert list(branches["layout"]["xaxis"]["range"]) == pytest.approx([0.0, clip.duration])
    np.testing.assert_allclose(arr(branches["data"][0]["x"]), times)


def test_eca_and_dataset_pages_start_on_the_real_models_own_corpus(no_extra_models):
    at = go(start(model=None), "eca")
    assert not at.exception and not at.error
    assert at.radio(key="eca_source").value == "real"
    heatmaps = [c for c in charts(at) if c["data"][0]["type"] == "heatmap"
                and "ECA weights" in c["layout"]["title"]["text"]]
    assert len(heatmaps) == 2  # one per ECA block of the model
    for chart in heatmaps:  # every class of the model, from real clips
        assert {str(row).split(" (n=")[0] for row in chart["data"][0]["y"]} == set(POLISH_LABELS)
    at = go(at, "dataset")
    assert at.text_input(key="dataset_folder").value == "assets/polish"
    assert not at.error and "(polish) to analyse" in texts(at)

    at = go(start(), "eca")  # the demo model keeps its demo corpus
    assert at.radio(key="eca_source").value == "demo-test"


def test_the_second_real_model_explains_a_real_word_with_its_attention_too(no_extra_models):
    atn = REAL_MODEL.parent / "polish-cnn-atn"
    card = checkpoint.read_card(atn)
    assert card.model == "cnn-atn" and domain.is_real(card) and card.training["padding"] == "noise-floor"
    path = _short_real_clip()
    clip = load_audio(path)
    at = pick_demo(start(model=atn), path.name)
    assert not at.exception and not at.error
    found = overlays(at)
    assert {c["data"][1]["name"] for c in found} == {"gradcam", "occlusion", "lime", "attention"}
    for chart in found:
        assert _x_range(chart) == pytest.approx([0.0, clip.duration], abs=1e-6)


def test_an_adapted_card_gives_each_speaker_its_clip_by_clip_ua_and_the_speaker_normalised_peer(no_extra_models):
    card = checkpoint.read_card(REAL_MODEL)
    cv = card.metrics["cv"]
    assert "unadapted" in cv, "the shipped real model is trained with speaker batches (make real-models)"
    at = start(model=None)
    pick_demo(at, at.selectbox(key="demo_clip").options[0].split(" — ")[0])
    assert not at.exception and not at.error
    shown = texts(at)
    assert f"trained statistics: UA {cv['unadapted']['mean']['UA']:.2f}" in shown
    normed = card.metrics["baseline_speaker_norm"]["mean"]["UA"]
    assert f"the adapted model's peer), UA {normed:.2f}" in shown
    [table] = [d.value for d in at.dataframe if "speaker" in d.value.columns]
    np.testing.assert_allclose(table["UA"], [f["UA"] for f in cv["folds"]])
    np.testing.assert_allclose(table["UA clip by clip"], [f["unadapted"]["UA"] for f in cv["folds"]])
    np.testing.assert_allclose(table["speaker-normalised baseline UA"],
                               [f["UA"] for f in card.metrics["baseline_speaker_norm"]["folds"]])
