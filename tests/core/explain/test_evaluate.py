"""Faithfulness curves, the randomisation sanity check, localisation and agreement."""

import numpy as np
import pytest
import torch
import scipy.stats

from core.explain.evaluate import (
    agreement, faithfulness, localisation, randomisation_check, rank_correlation, top_iou, unit_ranks,
)
from core.explain.gradcam import GradCamSettings, gradcam
from core.explain.maps import AttributionMap
from core.explain.occlusion import OcclusionSettings, occlusion


def planted_map(values):
    return AttributionMap("planted", values.astype(np.float32), 1, "present", np.arange(100) * 0.01, np.arange(64.0))


def truth():
    values = np.zeros((64, 100))
    values[20:36, 40:61] = 1.0
    return values


def test_deletion_of_the_true_region_beats_a_random_order(planted_subject):
    curves = faithfulness(planted_subject, {"truth": planted_map(truth())}, unit="cells", steps=10, baseline_kind="mean")
    truth_del, random_del = curves["truth"]["deletion"], curves["random"]["deletion"]
    truth_ins, random_ins = curves["truth"]["insertion"], curves["random"]["insertion"]
    assert truth_del.scores[0] == pytest.approx(planted_subject.probabilities(planted_subject.features[None])[0, 1].item(), abs=1e-5)
    assert truth_del.auc < random_del.auc
    assert truth_ins.auc > random_ins.auc
    assert len(truth_del.fractions) == 11 and truth_del.fractions[0] == 0 and truth_del.fractions[-1] == 1
    np.testing.assert_allclose(truth_del.auc, np.trapezoid(truth_del.scores, truth_del.fractions))


def test_unit_ranks_order_frames_bands_and_cells():
    values = np.zeros((4, 6))
    values[:, 5] = 3.0
    values[:, 2] = 1.0
    ranks = unit_ranks(values, "frames")
    assert (ranks[:, 5] == 0).all() and (ranks[:, 2] == 1).all()
    values = np.zeros((4, 6))
    values[3] = 1
    assert (unit_ranks(values, "bands")[3] == 0).all()


def test_randomisation_makes_gradcam_forget_the_patch(planted_subject):
    steps = randomisation_check(planted_subject, lambda s: gradcam(s, 1, GradCamSettings(layer="blocks.1"))["gradcam"], max_steps=6)
    assert [s.layer for s in steps][:2] == ["head.fc2", "head.fc1"] or steps[0].layer.startswith("head")
    assert steps[-1].rank_correlation < 0.5
    assert planted_subject.model.training is False  # the original model was not touched
    again = gradcam(planted_subject, 1, GradCamSettings(layer="blocks.1"))["gradcam"].values
    assert rank_correlation(again, gradcam(planted_subject, 1, GradCamSettings(layer="blocks.1"))["gradcam"].values) == pytest.approx(1.0)


def test_localisation_share_and_pointing_game():
    values = np.zeros((4, 100))
    values[:, 30:40] = 1.0
    values[0, 35] = 5.0
    m = AttributionMap("x", values.astype(np.float32), 0, "a", np.arange(100) * 0.01, np.arange(4.0))
    result = localisation(m, 0.30, 0.395)
    assert result.inside_share == pytest.approx(1.0) and result.pointing_hit
    assert result.chance == pytest.approx(0.10)
    miss = localisation(m, 0.0, 0.2)
    assert miss.inside_share == 0 and not miss.pointing_hit


def test_agreement_uses_spearman_and_iou():
    rng = np.random.default_rng(0)
    a, b = rng.random((8, 10)), rng.random((8, 10))
    maps = {n: AttributionMap(n, v.astype(np.float32), 0, "x", np.arange(10.0), np.arange(8.0))
            for n, v in {"a": a, "b": b, "neg": -a}.items()}
    result = agreement(maps, fraction=0.2)
    assert result[("a", "b")]["rank_correlation"] == pytest.approx(scipy.stats.spearmanr(a.ravel(), b.ravel()).statistic, abs=1e-6)
    assert result[("a", "neg")]["rank_correlation"] == pytest.approx(-1.0)
    assert top_iou(a, a) == 1.0 and top_iou(a, -a) == 0.0


def test_occlusion_and_gradcam_agree_more_with_the_truth_than_chance(planted_subject):
    occ = occlusion(planted_subject, 1, OcclusionSettings(window_ms=100, window_bands=8, stride_ms=50, stride_bands=4))["occlusion"]
    assert top_iou(occ.values, truth(), fraction=16 * 21 / 6400) > 0.3


def test_randomisation_walks_parallel_branches_down_together():
    from core.explain.evaluate import _layers_top_down
    from core.models import build, demo_config

    fusion = build("fusion", 4, **demo_config("fusion")).eval()
    order = _layers_top_down(fusion, torch.randn(1, 64, 161))
    heads = [n for n in order if n.startswith("head")]
    assert order[:len(heads)] == heads  # what runs after the branches goes first
    branches = [n.split(".")[0] for n in order[len(heads):]]
    assert set(branches[:2]) == {"vggish_branch", "yamnet_branch"}  # one layer of each branch, not one branch whole
    assert set(branches[2:4]) == {"vggish_branch", "yamnet_branch"}
    chain = build("cnn-eca", 4, **demo_config("cnn-eca")).eval()
    ran = []
    hooks = [m.register_forward_pre_hook(lambda mod, args, n=n: ran.append(n)) for n, m in chain.named_modules()
             if n in set(_layers_top_down(chain, torch.randn(1, 64, 101)))]
    chain(torch.randn(1, 64, 101))
    for h in hooks:
        h.remove()
    assert _layers_top_down(chain, torch.randn(1, 64, 101)) == list(dict.fromkeys(ran))[::-1]  # a chain: reversed
