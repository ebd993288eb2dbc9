"""Weighted focal loss against torch's cross-entropy and hand-computed values."""

import math

import pytest
import torch
import torch.nn.functional as F

from core.errors import ConfigError
from core.training.losses import FocalLoss, class_weights, focal_loss


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(17, 5, generator=g) * 3
    target = torch.randint(0, 5, (17,), generator=g)
    return logits, target


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gamma_zero_is_cross_entropy_exactly(batch, reduction):
    logits, target = batch
    assert torch.equal(focal_loss(logits, target, gamma=0.0, reduction=reduction),
                       F.cross_entropy(logits, target, reduction=reduction))
    uniform = torch.ones(5)
    assert torch.equal(focal_loss(logits, target, uniform, gamma=0.0, reduction=reduction),
                       F.cross_entropy(logits, target, reduction=reduction))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gamma_zero_with_weights_is_weighted_cross_entropy(batch, reduction):
    logits, target = batch
    weight = torch.tensor([0.5, 2.0, 1.0, 3.0, 0.25])
    assert torch.equal(focal_loss(logits, target, weight, gamma=0.0, reduction=reduction),
                       F.cross_entropy(logits, target, weight=weight, reduction=reduction))


def test_known_values_for_a_hand_set_example():
    # Two examples, three classes; probabilities computed by hand in float64.
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 3.0]], dtype=torch.float64)
    target = torch.tensor([0, 1])
    weight = torch.tensor([2.0, 1.0, 1.0], dtype=torch.float64)
    p0 = math.exp(2) / (math.exp(2) + 2)  # easy: 0.787
    p1 = math.e / (1 + math.e + math.exp(3))  # hard: 0.114
    l0, l1 = -(1 - p0) ** 2 * math.log(p0), -(1 - p1) ** 2 * math.log(p1)
    none = focal_loss(logits, target, weight, gamma=2.0, reduction="none")
    assert none.tolist() == pytest.approx([2 * l0, 1 * l1], rel=1e-12)
    assert focal_loss(logits, target, weight, gamma=2.0).item() == pytest.approx((2 * l0 + l1) / 3, rel=1e-12)
    assert focal_loss(logits, target, weight, gamma=2.0, reduction="sum").item() == pytest.approx(2 * l0 + l1, rel=1e-12)
    # gamma > 0 shrinks the easy example's loss far more than the hard one's
    ce = F.cross_entropy(logits, target, reduction="none")
    ratio = none / (ce * weight[target])
    assert ratio[0] == pytest.approx((1 - p0) ** 2) and ratio[0] < 0.05 < 0.7 < ratio[1]


def test_gradient_flows_and_module_matches_function(batch):
    logits, target = batch
    logits = logits.clone().requires_grad_(True)
    weight = torch.rand(5) + 0.5
    module = FocalLoss(weight, gamma=1.5)
    loss = module(logits, target)
    assert torch.equal(loss, focal_loss(logits, target, weight, 1.5))
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    assert "weight" in dict(module.named_buffers())


def test_class_weights_are_normalised_inverse_frequencies():
    labels = torch.tensor([0] * 6 + [1] * 3 + [2] * 1)
    w = class_weights(labels, 4)
    inv = torch.tensor([1 / 6, 1 / 3, 1.0])
    assert torch.allclose(w[:3], inv * 3 / inv.sum())
    assert w[3] == 0 and w[:3].mean().item() == pytest.approx(1.0)
    assert torch.equal(class_weights([0, 1, 2, 0, 1, 2], 3), torch.ones(3))
    # Weighted mean with these weights balances the classes: each class carries the same total weight.
    per_class = torch.bincount(labels, weights=w[labels], minlength=4)
    assert torch.allclose(per_class[:3], per_class[0].expand(3))


def test_bad_settings_are_config_errors(batch):
    logits, target = batch
    with pytest.raises(ConfigError):
        focal_loss(logits, target, gamma=-1)
    with pytest.raises(ConfigError):
        focal_loss(logits, target, reduction="avg")
    with pytest.raises(ConfigError):
        class_weights([0, 5], 3)
