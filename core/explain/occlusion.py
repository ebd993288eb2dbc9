"""Occlusion sensitivity (captum ``Occlusion``) with audio-native windows.

Windows are given in milliseconds and mel bands and converted to frames with the feature
config's hop. captum slides the window, replaces it with a baseline and records the drop in
the target's logit; ``perturbations_per_eval`` batches those forwards and is sized from free
memory. The result does not depend on the batch size (tested against 1).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from captum.attr import Occlusion

from core.explain.baselines import REMOVAL_HELP, REMOVALS
from core.explain.maps import AttributionMap
from core.explain.registry import MethodSpec, register_method, setting
from core.explain.subject import Subject, model_lock, reporting

MS = dict(low=10.0, high=3000.0, step=10.0)


@dataclass(frozen=True)
class OcclusionSettings:
    window_ms: float = setting(200.0, label="Window (ms)", help="Length of the occluding window.", **MS)
    window_bands: int = setting(16, label="Window (bands)", help="Height of the window in mel bands.", low=1, high=128)
    stride_ms: float = setting(100.0, label="Stride (ms)", help="Step between windows in time.", **MS)
    stride_bands: int = setting(8, label="Stride (bands)", help="Step between windows in bands.", low=1, high=128)
    baseline: str = setting("auto", label="Baseline", choices=REMOVALS, help=REMOVAL_HELP)
    seed: int = setting(0, label="Seed", help="For the noise baseline.", low=0, high=2**31 - 1, shown=False)
    perturbations_per_eval: int | None = setting(None, label="Windows per forward", low=1, shown=False,
                                                 help="None: Subject.batch_size() (free memory, cache on CPU).")


def _frames(ms: float, subject: Subject) -> int:
    return max(1, int(round(ms / subject.cfg.hop_ms)))


def _windows(subject: Subject, settings: OcclusionSettings) -> tuple[tuple[int, int], tuple[int, int]]:
    bands, frames = subject.features.shape
    window = (min(settings.window_bands, bands), min(_frames(settings.window_ms, subject), frames))
    strides = (min(settings.stride_bands, bands), min(_frames(settings.stride_ms, subject), frames))
    return window, strides


def _n_windows(subject: Subject, settings: OcclusionSettings) -> int:
    (wb, wf), (sb, sf) = _windows(subject, settings)
    bands, frames = subject.features.shape
    return (1 + -(-(bands - wb) // sb)) * (1 + -(-(frames - wf) // sf))


@register_method(MethodSpec(
    name="occlusion", title="Occlusion", settings=OcclusionSettings, default=True,
    cost=lambda subject, settings: 1 + _n_windows(subject, settings),
    description="The drop in the target's logit when a time x band window is removed, slid over the spectrogram.",
    reference="Zeiler & Fergus 2014; captum Occlusion",
))
def occlusion(subject: Subject, target: int, settings: OcclusionSettings = OcclusionSettings(),
              progress: Callable[[float], None] | None = None) -> dict[str, AttributionMap]:
    started = time.perf_counter()
    window, strides = _windows(subject, settings)
    per_eval = settings.perturbations_per_eval or subject.batch_size()
    removed, base = subject.removed(settings.baseline, settings.seed)
    forwards = 1 + -(-_n_windows(subject, settings) // per_eval)  # the clip itself, then the batches of windows
    with model_lock(subject.model), torch.no_grad():
        values = Occlusion(reporting(subject.model, forwards, progress)).attribute(
            subject.features[None],
            sliding_window_shapes=window,
            strides=strides,
            baselines=base[None],
            target=int(target),
            perturbations_per_eval=per_eval,
        )[0]
    recorded = {**asdict(settings), "baseline": removed, "window_frames": window[1], "stride_frames": strides[1], "perturbations_per_eval": per_eval}
    return {"occlusion": subject.make_map("occlusion", values, target, recorded, started)}
