"""The demo checkpoints under assets/models: present, safe, small, and their cards honest."""

from pathlib import Path

import numpy as np
import pytest

from core.checkpoint import data_fingerprint, load
from core.data.corpora import load_manifest
from core.training import evaluate

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "assets" / "models"
SHIPPED = ("cnn-eca", "fusion", "cnn-atn")


def test_the_three_demo_models_ship_within_40_mb():
    folders = sorted(p.parent.name for p in MODELS.glob("*/card.json"))
    assert set(SHIPPED) <= set(folders)
    assert sum(p.stat().st_size for p in MODELS.rglob("*") if p.is_file()) <= 40_000_000
    assert not [p for p in MODELS.rglob("*") if p.suffix in {".pt", ".pth", ".pkl", ".ckpt", ".bin"}]


@pytest.mark.parametrize("name", SHIPPED)
def test_card_states_what_the_model_scores_on_held_out_speakers(name):
    model, card = load(MODELS / name, device="cpu")
    assert card.model == name and card.labels == ("angry", "happy", "neutral", "sad")
    demo = load_manifest(ROOT / "assets" / "demo")
    train, test = demo.filter(split="train"), demo.filter(split="test")
    assert card.data["fingerprint"] == data_fingerprint(train)  # trained on the shipped train split
    assert not set(train.speakers()) & set(test.speakers())
    assert card.trained_speakers == set(train.speakers())  # what the pages flag as not speaker-independent
    held = card.metrics["held_out"]
    again = evaluate(model, test, card=card, device="cpu")
    assert again["trained_speakers"] == {}
    assert again["UA"] == pytest.approx(held["UA"], abs=1e-6)
    assert again["WA"] == pytest.approx(held["WA"], abs=1e-6)
    assert held["UA"] >= 0.80


# ----------------------------------------------------------------------------- real speech

REAL = ("polish-cnn-eca", "polish-cnn-atn")
POLISH = ROOT / "assets" / "polish"


@pytest.mark.parametrize("name", REAL)
def test_real_speech_cards_state_the_speaker_independent_score_and_beat_the_peer_baseline(name):
    _, card = load(MODELS / name, device="cpu")
    corpus = load_manifest(POLISH)
    assert card.labels == ("angry", "fearful", "neutral") and card.data["corpus"] == "polish"
    assert card.data["fingerprint"] == data_fingerprint(corpus)  # the final model: all five speakers
    assert card.trained_speakers == set(corpus.speakers())  # so the pages flag the corpus as in-sample
    cv, baseline = card.metrics["cv"], card.metrics["baseline"]
    assert cv["protocol"].startswith("leave-one-speaker-out (5 speakers)")
    assert sorted(f["test_speakers"][0] for f in cv["folds"]) == sorted(corpus.speakers())
    # the baseline was scored on exactly the same folds, in the same run
    assert [f["test_speakers"] for f in baseline["folds"]] == [f["test_speakers"] for f in cv["folds"]]
    clip_by_clip = cv.get("unadapted", cv)  # what a single clip gets: the trained BatchNorm statistics
    assert clip_by_clip["mean"]["UA"] > baseline["mean"]["UA"] > 1 / 3
    if card.training.get("speaker_batches"):  # adapted to each speaker: its peer is the speaker-normalised baseline
        normed = card.metrics["baseline_speaker_norm"]
        assert [f["test_speakers"] for f in normed["folds"]] == [f["test_speakers"] for f in cv["folds"]]
        assert cv["mean"]["UA"] > normed["mean"]["UA"] > baseline["mean"]["UA"]
        assert "AdaBN" in cv["protocol"] and all(f["adaptation"]["unadapted"] == {} for f in cv["folds"])
    assert card.training["padding"] == "noise-floor"


@pytest.fixture(scope="module")
def padded_words():
    """The twelve shortest real words (0.48-0.56 s): each is padded to its model's length (1.7 s or 1.0 s)."""
    from core.audio import load_audio

    rows = sorted(load_manifest(POLISH).rows, key=lambda r: r.path.stat().st_size)[:12]
    return [load_audio(r.path) for r in rows]


@pytest.mark.parametrize("name", REAL)
def test_real_speech_models_look_at_the_word_not_at_the_padding(name, padded_words):
    from core.explain.analysis import Settings, analyze
    from core.explain.evaluate import localisation

    model, card = load(MODELS / name, device="cpu")
    on_padding, padding_time = {"gradcam": [], "occlusion": []}, []
    for clip in padded_words:
        analysis = analyze(clip, model, card, methods=("gradcam", "occlusion"), settings=Settings(audio=False))
        assert analysis.clip_offset > 0  # really padded
        word = (analysis.clip_offset, analysis.clip_offset + clip.duration)
        for method in on_padding:
            found = localisation(analysis.maps[method], *word)
            on_padding[method].append(1 - found.inside_share)
        padding_time.append(1 - found.chance)
    for method, shares in on_padding.items():
        assert np.mean(shares) < np.mean(padding_time), f"{method} puts its mass on the padding"
