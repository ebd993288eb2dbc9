"""Losses as pure functions with ``reduction=`` (torchvision ``ops/focal_loss.py`` shape); modules wrap them.

S0 (Kim & Kwon, arXiv 2409.04007) trains with a *weighted focal loss*: inverse-frequency class
weights ``w`` and a focusing exponent ``gamma`` that shrinks the loss of well-classified
examples (S0: "the focal loss parameter was set to 1"; the default 2 here is Lin et al.'s, not
S0's). In its multi-class softmax form, for logits ``z`` and target class ``y``::

    p = softmax(z);   loss = -w_y * (1 - p_y) ** gamma * log p_y

``reduction="mean"`` is the *weighted* mean ``sum_i loss_i / sum_i w_{y_i}``, exactly as
``F.cross_entropy(weight=w)`` defines it, so ``gamma=0`` gives cross-entropy bit for bit
(the focal factor is applied to the log-probabilities, then ``F.nll_loss`` picks and reduces).
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
import torch.nn.functional as F

from core.errors import ConfigError

Reduction = Literal["mean", "sum", "none"]


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    gamma: float = 2.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Weighted softmax focal loss of ``logits`` ``(N, C)`` against class indices ``target`` ``(N,)``.

    ``weight`` ``(C,)`` scales each class (``class_weights`` gives S0's inverse frequencies);
    ``gamma = 0`` is (weighted) cross-entropy. ``reduction``: "mean" (weighted mean, as
    ``F.cross_entropy``), "sum" (weighted sum; divide by the weight sum yourself, e.g. over a
    global batch split across processes) or "none" (per example, weighted).
    """
    if gamma < 0:
        raise ConfigError(f"focal gamma={gamma}: use a value >= 0 (S0 sets 1; 0 is cross-entropy).")
    if reduction not in ("mean", "sum", "none"):
        raise ConfigError(f"reduction={reduction!r}: use 'mean', 'sum' or 'none'.")
    logp = F.log_softmax(logits, dim=1)
    if gamma != 0:
        # (1 - p)^gamma on every class; nll_loss then picks the target's entry.
        logp = (1.0 - logp.exp()).clamp_min(0.0).pow(gamma) * logp
    if weight is not None:
        weight = weight.to(device=logits.device, dtype=logp.dtype)
    return F.nll_loss(logp, target, weight=weight, reduction=reduction)


def target_weight_sum(target: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """The denominator of ``reduction="mean"``: ``sum_i w_{y_i}`` (or ``N`` without weights)."""
    if weight is None:
        return torch.tensor(float(target.numel()), device=target.device)
    return weight.to(target.device)[target].sum()


def class_weights(labels_idx: Sequence[int] | torch.Tensor, num_classes: int) -> torch.Tensor:
    """Inverse training frequencies ``(num_classes,)``, normalised to mean 1 over the classes present.

    A balanced training set gives all ones (weighted = unweighted). A class absent from the
    training labels gets weight 0: it is never a target, and an infinite weight would be useless.
    """
    labels = torch.as_tensor(labels_idx, dtype=torch.long).flatten()
    if labels.numel() == 0:
        raise ConfigError("Class weights need at least one training label.")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ConfigError(f"Label indices must lie in [0, {num_classes}); got {labels.min()}..{labels.max()}.")
    counts = torch.bincount(labels, minlength=num_classes).to(torch.float64)
    present = counts > 0
    inverse = torch.where(present, 1.0 / counts.clamp_min(1.0), torch.zeros_like(counts))
    inverse = inverse * (present.sum() / inverse.sum())
    return inverse.to(torch.float32)


class FocalLoss(torch.nn.Module):
    """Module form of ``focal_loss``; ``weight`` is a buffer so it follows ``.to(device)``."""

    def __init__(self, weight: torch.Tensor | None = None, gamma: float = 2.0, reduction: Reduction = "mean"):
        super().__init__()
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32))
        self.gamma = gamma
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return focal_loss(logits, target, self.weight, self.gamma, self.reduction)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, reduction={self.reduction!r}"
