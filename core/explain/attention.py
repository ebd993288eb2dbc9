"""Attention maps: the Luong attention weights of an attention model (S2), spread over the bands of each frame.

Not a post-hoc explanation but the model's own weighting of its time steps; shown beside the others because
S2 reads it as one (Mountzouris et al. 2023). The map's time profile is the weight of each frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch

from core.explain.maps import AttributionMap
from core.explain.registry import MethodSpec, register_method
from core.explain.subject import Subject, model_lock


@dataclass(frozen=True)
class AttentionSettings:
    """Attention has nothing to set: it reads the model's weights."""


@register_method(MethodSpec(
    name="attention", title="Attention", settings=AttentionSettings, needs=("attention",), default=True,
    cost=lambda subject, settings: 1,
    description="The model's own attention weights over time (S2), one value per frame.",
    reference="Luong et al. 2015; Mountzouris et al. 2023",
))
def attention(subject: Subject, target: int, settings: AttentionSettings = AttentionSettings(),
              progress: Callable[[float], None] | None = None) -> dict[str, AttributionMap]:
    """``{"attention": map}`` whose band sum in each frame is that frame's attention weight (target-independent)."""
    started = time.perf_counter()
    model = subject.model
    with model_lock(model), torch.no_grad():
        weights = model.attention_weights(subject.features[None])
    per_frame = model.steps_to_frames(weights, subject.features.shape[-1])[0]
    grid = per_frame[None, :].expand(subject.features.shape[0], -1) / subject.features.shape[0]
    return {"attention": subject.make_map("attention", grid, target, {}, started)}
