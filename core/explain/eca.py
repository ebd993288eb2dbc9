"""Efficient-channel-attention gates: per clip, and per emotion over a dataset (S0's plots).

A forward hook on each ECA tap's ``gate`` (the sigmoid) records the channel weights of
every clip in a batch. S0 plots the per-emotion mean weights of blocks 5 and 6 as lines; we
add the spread and rank channels by how strongly their mean differs between emotions.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from core.errors import ConfigError
from core.explain.subject import forward_hook, model_lock


def eca_gates(model: nn.Module, features: torch.Tensor) -> dict[str, np.ndarray]:
    """Gate values ``{tap: (B, C)}`` for a batch of features ``(B, bands, frames)``."""
    taps = model.spec.eca_taps
    if not taps:
        raise ConfigError(f"Model '{model.model_name}' has no ECA blocks; choose a cnn-eca model.")
    recorded: dict[str, torch.Tensor] = {}

    def recorder(name):
        def hook(_module, _inputs, output):
            recorded[name] = output.detach().flatten(1)
        return hook

    with model_lock(model), torch.no_grad(), ExitStack() as hooks:
        for tap in taps:
            hooks.enter_context(forward_hook(model.get_submodule(f"{tap}.gate"), recorder(tap)))
        model(features)
    return {tap: recorded[tap].float().cpu().numpy() for tap in taps}


@dataclass(frozen=True)
class EcaProfile:
    """Per-emotion channel weights of one ECA block over a dataset."""

    tap: str
    labels: tuple[str, ...]
    mean: np.ndarray  # (emotions, channels)
    std: np.ndarray  # (emotions, channels)
    count: np.ndarray  # (emotions,)

    @property
    def present(self) -> np.ndarray:
        """Which emotions have at least one clip (the others' rows are empty, not zero weights)."""
        return self.count > 0

    def between_emotion_spread(self) -> np.ndarray | None:
        """Per channel, the standard deviation of the emotions' mean weights (emotions with clips only);
        None with fewer than two such emotions: then nothing differs between emotions."""
        if int(self.present.sum()) < 2:
            return None
        return self.mean[self.present].std(axis=0)

    def within_emotion_std(self) -> np.ndarray:
        """Per channel, the clip-weighted pooled standard deviation within the emotions (the noise a
        between-emotion difference is to be read against)."""
        n = self.count[self.present].astype(float)[:, None]
        return np.sqrt((n * self.std[self.present] ** 2).sum(axis=0) / max(float(n.sum()), 1.0))

    def separating_channels(self, k: int | None = 10) -> np.ndarray:
        """Channels by how much their mean weight varies between emotions (``between_emotion_spread``),
        largest first (ties: lower channel first); empty with fewer than two emotions, which have no
        differences to rank."""
        spread = self.between_emotion_spread()
        if spread is None:
            return np.zeros(0, dtype=int)
        return np.argsort(-spread, kind="stable")[:k]


def eca_profiles(model: nn.Module, batches, labels: Sequence[str],
                 progress: Callable[[float], None] | None = None, total: int | None = None) -> dict[str, EcaProfile]:
    """Aggregate gates over ``batches`` of ``(features, label_indices)``: mean and std per emotion."""
    sums: dict[str, np.ndarray] = {}
    squares: dict[str, np.ndarray] = {}
    count = np.zeros(len(labels))
    for i, (features, ys) in enumerate(batches):
        ys = np.asarray(ys)
        for tap, gates in eca_gates(model, features).items():
            if tap not in sums:
                sums[tap] = np.zeros((len(labels), gates.shape[1]))
                squares[tap] = np.zeros_like(sums[tap])
            np.add.at(sums[tap], ys, gates)
            np.add.at(squares[tap], ys, gates.astype(np.float64) ** 2)
        count += np.bincount(ys, minlength=len(labels))
        if progress and total:
            progress(min(1.0, (i + 1) / total))
    profiles = {}
    n = np.maximum(count, 1)[:, None]
    for tap in sums:
        mean = sums[tap] / n
        std = np.sqrt(np.maximum(squares[tap] / n - mean**2, 0.0))
        profiles[tap] = EcaProfile(tap, tuple(labels), mean, std, count.astype(int))
    return profiles
