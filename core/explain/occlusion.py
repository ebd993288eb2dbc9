"""Occlusion sensitivity (captum ``Occlusion``) with audio-native windows.

Windows are given in milliseconds and mel bands and converted to frames with the feature
config's hop. captum slides the window, replaces it with a baseline and records the drop in
the target's logit; ``perturbations_per_eval`` batches those forwards and is sized from free
memory. The result does not depend on the batch size (tested against 1).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
from captum.attr import Occlusion

from core.explain.baselines import baseline, removal_for
from core.explain.maps import AttributionMap
from core.explain.subject import Subject, model_lock


@dataclass(frozen=True)
class OcclusionSettings:
    window_ms: float = 200.0
    window_bands: int = 16
    stride_ms: float = 100.0
    stride_bands: int = 8
    baseline: str = "auto"  # core.explain.baselines.REMOVALS; auto: floor for noise-floor models, else silence
    seed: int = 0
    perturbations_per_eval: int | None = None  # None: Subject.batch_size() (free memory, cache on CPU)


def _frames(ms: float, subject: Subject) -> int:
    return max(1, int(round(ms / subject.cfg.hop_ms)))


def occlusion(subject: Subject, target: int, settings: OcclusionSettings = OcclusionSettings()) -> AttributionMap:
    started = time.perf_counter()
    bands, frames = subject.features.shape
    window = (min(settings.window_bands, bands), min(_frames(settings.window_ms, subject), frames))
    strides = (min(settings.stride_bands, bands), min(_frames(settings.stride_ms, subject), frames))
    per_eval = settings.perturbations_per_eval or subject.batch_size()
    removed = removal_for(settings.baseline, subject.padding)
    base = baseline(subject.features, removed, seed=settings.seed)
    with model_lock(subject.model), torch.no_grad():
        values = Occlusion(subject.model).attribute(
            subject.features[None],
            sliding_window_shapes=window,
            strides=strides,
            baselines=base[None],
            target=int(target),
            perturbations_per_eval=per_eval,
        )[0]
    recorded = {**asdict(settings), "baseline": removed, "window_frames": window[1], "stride_frames": strides[1], "perturbations_per_eval": per_eval}
    return subject.make_map("occlusion", values, target, recorded, started)
