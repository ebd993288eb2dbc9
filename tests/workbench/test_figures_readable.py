"""Figures a person reads without guessing: axis titles with units, every tick labelled that matters,
no colour bar over another panel's labels (the Compare, Dataset and ECA figures, built directly)."""

import json
from dataclasses import replace

import numpy as np
import pytest
from wb_helpers import QUICK, arr, demo_clip

from core.audio import load_audio
from core.explain import analyze
from core.explain.eca import EcaProfile
from core.explain.evaluate import SanityStep
from workbench.components import compare_figures, dataset_figures


def as_json(fig) -> dict:
    return json.loads(fig.to_json())


# ------------------------------------------------------------------------------ Dataset: frequency profiles


def test_frequency_profile_axis_has_explicit_hz_ticks_no_minor_labels_and_a_y_unit():
    band_hz = np.geomspace(28.0, 7670.0, 64)
    labels = ["angry", "neutral"]
    profiles = {"gradcam": {label: np.linspace(0, 1, 64) for label in labels},
                "occlusion": {label: np.linspace(1, 0, 64) for label in labels}}
    layout = as_json(dataset_figures.frequency_profiles(profiles, band_hz, labels))["layout"]
    for axis in ("xaxis", "xaxis2"):
        x = layout[axis]
        assert x["type"] == "log" and x["tickmode"] == "array"
        assert list(x["tickvals"]) == [50, 100, 200, 500, 1000, 2000, 5000]  # inside 28 .. 7670 Hz
        assert list(x["ticktext"]) == ["50", "100", "200", "500", "1k", "2k", "5k"]
        assert x["minor"]["ticks"] == ""  # no "3 4 5 ... 2 3" between the decades
        assert "Hz" in x["title"]["text"]
    assert layout["yaxis"]["title"]["text"] == "mean attribution per band (a.u., summed over frames)"


def test_mfcc_profiles_keep_a_linear_index_axis():
    profiles = {"gradcam": {"angry": np.ones(40)}}
    x = as_json(dataset_figures.frequency_profiles(profiles, np.arange(40.0), ["angry"], mfcc=True))["layout"]["xaxis"]
    assert x["type"] == "linear" and "tickvals" not in x and x["title"]["text"] == "MFCC coefficient (index)"


# ------------------------------------------------------------------------------ Compare


def test_agreement_colour_bars_sit_under_their_own_matrix():
    methods = ["gradcam", "lime", "occlusion"]
    pairs = {("gradcam", "lime"): {"rank_correlation": 0.4, "top_iou": 0.3},
             ("gradcam", "occlusion"): {"rank_correlation": 0.2, "top_iou": 0.5},
             ("lime", "occlusion"): {"rank_correlation": -0.1, "top_iou": 0.1}}
    fig = as_json(compare_figures.agreement(pairs, methods, 0.2))
    layout = fig["layout"]
    for trace, axis, other in zip(fig["data"], ("xaxis", "xaxis2"), ("xaxis2", "xaxis")):
        bar = trace["colorbar"]
        assert bar["orientation"] == "h" and bar["xanchor"] == "center" and bar["y"] < 0  # below the x axis
        left, right = bar["x"] - bar["len"] / 2, bar["x"] + bar["len"] / 2
        low, high = layout[axis]["domain"]
        assert low <= left and right <= high  # inside its own matrix's width
        o_low, o_high = layout[other]["domain"]
        assert right <= o_low or left >= o_high  # never over the other matrix
    assert layout["xaxis"]["title"]["text"] == "method" and layout["yaxis"]["title"]["text"] == "method"


def _fusion_like_layers() -> list[str]:
    layers = ["head.fc", "head.fc1", "input_norm"]
    for i in range(13, 0, -1):
        layers += [f"vggish_branch.features.{i}", f"yamnet_branch.layer{i}.pointwise_conv.bn",
                   f"yamnet_branch.layer{i}.pointwise_conv.conv", f"yamnet_branch.layer{i}.depthwise_conv.bn"]
    return layers


def test_sanity_check_names_every_layer_on_the_x_axis_even_for_the_fusion_model():
    layers = _fusion_like_layers()
    assert len(layers) > 50 and max(map(len, layers)) > 35
    steps = [SanityStep(name, float(np.cos(i / 10))) for i, name in enumerate(layers)]
    fig = as_json(compare_figures.sanity(steps, "Grad-CAM"))
    x = fig["layout"]["xaxis"]
    assert x.get("showticklabels", True) is True
    assert list(x["tickvals"]) == layers and list(fig["data"][0]["x"]) == layers  # full names kept (hover, tests)
    assert len(x["ticktext"]) == len(layers) and all(len(t) <= 24 for t in x["ticktext"])
    assert "yamnet.layer12.pw.bn" in x["ticktext"] and "vggish.13" in x["ticktext"]
    assert x["tickangle"] == -90 and "hover" not in x["title"]["text"]
    assert fig["layout"]["margin"]["b"] >= 6 * 20  # room for the rotated names
    assert fig["layout"]["yaxis"]["title"]["text"] == "Spearman ρ with the original map"


@pytest.fixture(scope="module")
def two_branch_analysis(demo_model):
    """A demo-model analysis with its Grad-CAM map under two branch names (what ``branches`` draws)."""
    model, card = demo_model
    clip = load_audio(demo_clip().read_bytes(), name=demo_clip().name)
    analysis = analyze(clip, model, card, methods=("gradcam",), settings=QUICK, device="cpu")
    m = analysis.maps["gradcam"]
    other = replace(m, method="gradcam-yamnet", values=m.values[::-1].copy())
    return replace(analysis, maps={"gradcam-vggish": replace(m, method="gradcam-vggish"), "gradcam-yamnet": other})


def test_fusion_branch_panels_each_carry_time_ticks_and_the_colour_bar_spans_the_maps(two_branch_analysis):
    fig = as_json(compare_figures.branches(two_branch_analysis, ["gradcam-vggish", "gradcam-yamnet"]))
    layout = fig["layout"]
    for axis in ("xaxis", "xaxis2", "xaxis3"):
        assert layout[axis].get("showticklabels") is True, axis  # shared axes hide them unless asked
        assert layout[axis]["title"]["text"] == "time (s)"
        assert list(layout[axis]["range"]) == pytest.approx([0.0, two_branch_analysis.clip_seconds])
    [bar] = [d["colorbar"] for d in fig["data"] if d["type"] == "heatmap" and d.get("showscale", True)]
    top, bottom = layout["yaxis"]["domain"][1], layout["yaxis2"]["domain"][0]
    assert bar["y"] == pytest.approx(top) and bar["yanchor"] == "top" and bar["len"] == pytest.approx(top - bottom)
    assert layout["yaxis3"]["domain"][1] < bottom  # the curve panel is not under the bar
    assert "(0–1)" in layout["yaxis3"]["title"]["text"]


# ------------------------------------------------------------------------------ ECA


def _profile(mean: np.ndarray, count, labels=("angry", "happy", "neutral", "sad")) -> EcaProfile:
    return EcaProfile("blocks.4.eca", tuple(labels), mean, np.full_like(mean, 0.05), np.asarray(count))


def test_eca_heatmap_rows_are_emotions_and_columns_sorted_by_between_emotion_spread():
    rng = np.random.default_rng(0)
    mean = rng.uniform(0.3, 0.7, size=(4, 20))
    p = _profile(mean, [5, 0, 7, 3])  # happy has no clips: no row
    current = {"blocks.4.eca": rng.uniform(0, 1, size=(1, 20))}
    fig = as_json(dataset_figures.eca({"blocks.4.eca": p}, current)["blocks.4.eca"])
    heat, clip = fig["data"]
    assert list(heat["y"]) == ["angry", "neutral", "sad"]
    expected = np.argsort(-mean[[0, 2, 3]].std(axis=0), kind="stable")
    assert [int(c) for c in heat["x"]] == list(expected)
    np.testing.assert_allclose(arr(heat["z"]), mean[[0, 2, 3]][:, expected])
    assert clip["name"] == "current clip"
    np.testing.assert_allclose(arr(clip["z"]).ravel(), current["blocks.4.eca"][0, expected])
    layout = fig["layout"]
    assert layout["title"]["text"] == "Conv block 5: ECA weights of its 20 channels"
    assert layout["xaxis2"]["title"]["text"] == "channel, sorted by between-emotion spread (largest first)"
    assert list(layout["yaxis"]["ticktext"]) == ["angry (n=5)", "neutral (n=7)", "sad (n=3)"]
    assert heat["colorbar"]["title"]["text"] == "mean ECA weight (0–1)"


def test_eca_difference_view_is_centred_and_one_emotion_keeps_index_order():
    mean = np.array([[0.2, 0.5, 0.9], [0.4, 0.5, 0.1]])
    p = _profile(mean, [2, 2], labels=("angry", "sad"))
    heat = as_json(dataset_figures.eca({"t": p}, show="difference")["t"])["data"][0]
    assert [int(c) for c in heat["x"]] == [2, 0, 1]
    np.testing.assert_allclose(arr(heat["z"]), (mean - mean.mean(axis=0))[:, [2, 0, 1]])
    assert heat["zmin"] == -heat["zmax"]

    single = _profile(mean, [3, 0], labels=("angry", "sad"))
    assert single.between_emotion_spread() is None and len(single.separating_channels(8)) == 0
    fig = as_json(dataset_figures.eca({"t": single})["t"])
    assert [int(c) for c in fig["data"][0]["x"]] == [0, 1, 2] and list(fig["data"][0]["y"]) == ["angry"]
    assert "one emotion only" in fig["layout"]["xaxis"]["title"]["text"]
