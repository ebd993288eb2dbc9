"""Compare page with AppTest: agreement, deletion / insertion with AUC, the randomisation check."""

import numpy as np
import pytest
from wb_helpers import QUICK, arr, charts, demo_clip, go, model_index, pick_demo, start, with_demo_clip

from core.audio import load_audio
from core.explain import analyze, evaluate


@pytest.fixture(scope="module")
def comparing():
    return with_demo_clip("compare")


def test_agreement_matches_core_on_the_same_maps(comparing, demo_model):
    at = comparing
    assert not at.exception and not at.error
    model, card = demo_model
    clip = load_audio(demo_clip().read_bytes(), name=demo_clip().name)
    reference = analyze(clip, model, card, settings=QUICK, device="cpu")
    expected = evaluate.agreement(reference.maps, 0.2)
    table = at.dataframe[0].value
    assert len(table) == 3
    for (a, b), scores in expected.items():
        row = table[table["methods"] == f"{a} vs {b}"].iloc[0]
        assert row["Spearman ρ"] == pytest.approx(scores["rank_correlation"], abs=1e-6)
        assert row["top 20% IoU"] == pytest.approx(scores["top_iou"], abs=1e-6)


def test_deletion_and_insertion_curves_carry_auc_and_a_random_reference(comparing):
    at = comparing
    [curves] = [c for c in charts(at) if any("deletion (AUC" in d.get("name", "") for d in c["data"])]
    names = [d["name"] for d in curves["data"]]
    for method in ("gradcam", "occlusion", "lime", "random"):
        assert any(n.startswith(f"{method} deletion (AUC") for n in names)
        assert any(n.startswith(f"{method} insertion (AUC") for n in names)
    assert curves["layout"]["yaxis"]["title"]["text"] == "target probability"
    aucs = at.dataframe[1].value
    assert set(aucs["method"]) == {"gradcam", "occlusion", "lime", "random"}
    assert ((aucs["deletion AUC"] >= 0) & (aucs["deletion AUC"] <= 1)).all()
    at.radio(key="faith_unit").set_value("bands").run()
    assert not at.exception
    assert any("share of bands removed" in str(c["layout"]) for c in charts(at))


def test_randomisation_check_walks_the_layers_top_down(comparing, demo_model):
    [sanity] = [c for c in charts(comparing) if any("vs original" in d.get("name", "") for d in c["data"])]
    layers = sanity["data"][0]["x"]
    assert layers[0].startswith("head") and layers[-1] == "blocks.0.conv"
    rho = np.asarray(sanity["data"][0]["y"], dtype=float)
    assert np.all(np.abs(rho) <= 1.0)


def test_fusion_branch_maps_share_one_timeline(fusion_model):
    at = start()
    at.selectbox(key="model").select_index(model_index(at, "fusion")).run()
    pick_demo(at, demo_clip().name)
    go(at, "compare")
    assert not at.error
    [branches] = [c for c in charts(at) if any(d.get("name") == "gradcam-vggish" for d in c["data"])]
    heatmaps = [d for d in branches["data"] if d["type"] == "heatmap"]
    assert [d["name"] for d in heatmaps] == ["gradcam-vggish", "gradcam-yamnet"]
    np.testing.assert_allclose(arr(heatmaps[0]["x"]), arr(heatmaps[1]["x"]))  # one time axis
    assert branches["layout"]["xaxis3"]["title"]["text"] == "time (s)"
    assert {d["name"] for d in branches["data"] if d["type"] == "scatter"} == {
        "gradcam-vggish (summed over bands)", "gradcam-yamnet (summed over bands)"}
