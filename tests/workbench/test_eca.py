"""ECA page with AppTest: S0's per-emotion mean channel weights as one heatmap per block (emotions x
channels, sorted by between-emotion spread), the current clip under it, and channels ranked by real
between-emotion differences (none with a single emotion)."""

import numpy as np
import pytest
import torch
from wb_helpers import QUICK, arr, charts, demo_clip, go, model_index, start, texts, with_demo_clip

from core.audio import load_audio
from core.data.corpora import load_manifest
from core.explain import analyze
from core.explain.dataset import analyze_dataset
from core.explain.eca import eca_gates

TAPS = ("blocks.4.eca", "blocks.5.eca")
LABELS = ["angry", "happy", "neutral", "sad"]


def _heatmaps(at) -> dict[str, dict]:
    """The ECA heatmap of each block, by its tap (the first trace's name)."""
    return {c["data"][0]["name"]: c for c in charts(at) if c["data"][0]["type"] == "heatmap"}


@pytest.fixture(scope="module")
def demo_test_profiles(demo_model):
    """The per-emotion gates of the demo corpus's held-out test clips, computed here, not by the page."""
    model, card = demo_model
    manifest = load_manifest(demo_clip().parents[2]).filter(split="test")
    return analyze_dataset(model, card, manifest, methods=(), device="cpu").eca


def test_demo_heatmaps_show_each_emotions_mean_sorted_by_spread_with_the_current_clip(demo_model,
                                                                                     demo_test_profiles):
    at = with_demo_clip("eca")
    assert not at.exception and not at.error
    heatmaps = _heatmaps(at)
    assert list(heatmaps) == list(TAPS)
    titles = [heatmaps[t]["layout"]["title"]["text"] for t in TAPS]
    assert titles == ["Conv block 5: ECA weights of its 80 channels", "Conv block 6: ECA weights of its 96 channels"]

    model, card = demo_model
    clip = load_audio(demo_clip().read_bytes(), name=demo_clip().name)
    features = torch.as_tensor(analyze(clip, model, card, methods=(), settings=QUICK, device="cpu").spectrogram)
    gates = eca_gates(model, features[None])
    for tap in TAPS:
        chart, profile = heatmaps[tap], demo_test_profiles[tap]
        heat, current = chart["data"]
        assert list(heat["y"]) == LABELS  # emotions as rows
        assert list(chart["layout"]["yaxis"]["ticktext"]) == [f"{label} (n=12)" for label in LABELS]
        order = np.argsort(-profile.mean.std(axis=0), kind="stable")  # between-emotion spread, largest first
        assert [int(c) for c in heat["x"]] == list(order)
        np.testing.assert_allclose(arr(heat["z"]), profile.mean[:, order], atol=1e-5)
        assert current["name"] == "current clip"
        np.testing.assert_allclose(arr(current["z"]).ravel(), gates[tap][0][order], atol=1e-5)

    # the ranking: the top 8 channels of each block by the same spread, with the numbers to judge it
    tables = [d.value for d in at.dataframe]
    assert len(tables) == 2
    for table, tap in zip(tables, TAPS):
        profile = demo_test_profiles[tap]
        spread = profile.mean.std(axis=0)
        assert list(table["channel"]) == list(np.argsort(-spread, kind="stable")[:8])
        np.testing.assert_allclose(table["spread between emotions"], spread[table["channel"]], atol=1e-5)
        assert table["spread between emotions"].is_monotonic_decreasing
        assert table["spread between emotions"].iloc[0] > 0

    at.radio(key="eca_show").set_value("spread").run()
    assert not at.exception
    for tap, chart in _heatmaps(at).items():
        profile = demo_test_profiles[tap]
        order = [int(c) for c in chart["data"][0]["x"]]
        np.testing.assert_allclose(arr(chart["data"][0]["z"]), profile.std[:, order], atol=1e-5)
        assert len(chart["data"]) == 1  # no current-clip row for a spread


def test_one_predicted_emotion_says_there_is_nothing_to_rank():
    at = with_demo_clip("eca")
    at.radio(key="eca_source").set_value("session").run()  # one clip: one predicted emotion
    assert not at.exception and not at.error
    assert "Only one emotion has clips here: angry (n=1)" in texts(at)
    assert "No ranking: it needs at least two emotions" in texts(at)
    assert not at.dataframe  # no table of channels 0, 1, 2, ...
    for tap, chart in _heatmaps(at).items():
        heat = chart["data"][0]
        assert list(heat["y"]) == ["angry"]
        assert [int(c) for c in heat["x"]] == list(range(len(heat["x"])))  # index order, not a fake ranking
        assert "one emotion only" in chart["layout"]["xaxis2"]["title"]["text"]


def test_a_model_without_eca_says_so(extra_models):
    at = start()
    at.selectbox(key="model").select_index(model_index(at, "plain-cnn")).run()
    go(at, "eca")
    assert any("has no efficient-channel-attention blocks" in i.value for i in at.info)


def test_a_model_trained_in_speaker_batches_is_profiled_adapted_to_each_speaker(speaker_batches_model, demo_model,
                                                                                demo_test_profiles):
    """The card says speaker batches, so the page adapts by default: its heatmaps are the adapted analysis's
    profiles, not the trained statistics', and unticking the box gives the trained ones back."""
    at = go(start(model=speaker_batches_model), "eca")
    [box] = [c for c in at.checkbox if c.label == "Adapt to each speaker (AdaBN)"]
    assert box.value is True and "BatchNorm statistics" in box.help
    assert not at.exception and not at.error
    [note] = [c.value for c in at.caption if c.value.startswith("Adapted to each speaker (AdaBN)")]
    assert note == "Adapted to each speaker (AdaBN): 3 speakers adapted, with BatchNorm statistics of their own clips."

    model, card = demo_model
    manifest = load_manifest(demo_clip().parents[2]).filter(split="test")
    adapted = analyze_dataset(model, card, manifest, methods=(), device="cpu", adapt_speakers=True).eca
    for tap, chart in _heatmaps(at).items():
        heat = chart["data"][0]
        order = [int(c) for c in heat["x"]]
        np.testing.assert_allclose(arr(heat["z"]), adapted[tap].mean[:, order], atol=1e-5)
        assert not np.allclose(adapted[tap].mean, demo_test_profiles[tap].mean, atol=1e-3)  # adapting changes them

    box.uncheck().run()
    assert not at.exception
    assert any(c.value.startswith("Not adapted to speakers") for c in at.caption)
    for tap, chart in _heatmaps(at).items():
        heat = chart["data"][0]
        order = [int(c) for c in heat["x"]]
        np.testing.assert_allclose(arr(heat["z"]), demo_test_profiles[tap].mean[:, order], atol=1e-5)
