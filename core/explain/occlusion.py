"""Occlusion sensitivity with audio-native windows: exact incremental inference, or captum ``Occlusion``.

Windows are given in milliseconds and mel bands and converted to frames with the feature
config's hop. Each window is replaced by a baseline and the drop in the target's logit is
spread over the cells it covers, averaged where windows overlap (captum's definition). Where
the model declares a time-local stem or patch trunk (``core.explain.incremental``), each
window recomputes only what it changes; elsewhere captum ``Occlusion`` runs the plain
forwards. ``perturbations_per_eval`` batches the windows and is sized from free memory. Both
paths and every batch size give the same map (tested against captum with one per forward).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from captum.attr import Occlusion

from core.explain import incremental
from core.explain.baselines import REMOVAL_HELP, REMOVALS
from core.explain.maps import AttributionMap
from core.explain.registry import MethodSpec, register_method, setting
from core.explain.subject import Subject, locked, model_lock, reporting

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
    incremental: bool = setting(True, label="Incremental", shown=False,
                                help="Recompute only what each window changes (exact; Nakandala et al. 2019).")


def _frames(ms: float, subject: Subject) -> int:
    return max(1, int(round(ms / subject.cfg.hop_ms)))


def _windows(subject: Subject, settings: OcclusionSettings) -> tuple[tuple[int, int], tuple[int, int]]:
    bands, frames = subject.features.shape
    window = (min(settings.window_bands, bands), min(_frames(settings.window_ms, subject), frames))
    strides = (min(settings.stride_bands, bands), min(_frames(settings.stride_ms, subject), frames))
    return window, strides


def _n_windows(subject: Subject, settings: OcclusionSettings) -> int:
    return len(_window_list(subject, settings))


def _window_list(subject: Subject, settings: OcclusionSettings) -> list[incremental.Window]:
    """Every window as captum slides it: starts every stride, the last ones clipped to the grid."""
    (wb, wf), (sb, sf) = _windows(subject, settings)
    bands, frames = subject.features.shape
    return [(b, min(b + wb, bands), f, min(f + wf, frames))
            for b in range(0, sb * math.ceil((bands - wb) / sb) + 1, sb)
            for f in range(0, sf * math.ceil((frames - wf) / sf) + 1, sf)]


def _incremental(subject: Subject, path, target: int, base: torch.Tensor, windows, per_eval: int,
                 progress: Callable[[float], None] | None) -> torch.Tensor:
    """captum's occlusion map, each window's logit from ``path`` (``incremental.plan``)."""
    total = torch.zeros_like(subject.features)
    count = torch.zeros_like(subject.features)
    with model_lock(subject.model):
        clean = subject.model(subject.features[None])[0, target]
    for start in range(0, len(windows), per_eval):
        if progress:
            progress(min(0.99, start / len(windows)))
        chunk = windows[start:start + per_eval]
        with model_lock(subject.model):  # per chunk: other sessions' Grad-CAM gets in between
            drops = clean - path.logits(chunk, base)[:, target]
        for (b0, b1, f0, f1), drop in zip(chunk, drops):
            total[b0:b1, f0:f1] += drop
            count[b0:b1, f0:f1] += 1
    return total / count


@register_method(MethodSpec(
    name="occlusion", title="Occlusion", settings=OcclusionSettings, default=True,
    cost=lambda subject, settings: 1 + _n_windows(subject, settings),  # whole forwards; incremental needs less
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
    with torch.no_grad():
        with model_lock(subject.model):
            path = incremental.plan(subject.model, subject.features) if settings.incremental else None
        if path is not None:
            values = _incremental(subject, path, target, base, _window_list(subject, settings), per_eval, progress)
        else:
            values = Occlusion(reporting(locked(subject.model), forwards, progress)).attribute(
                subject.features[None],
                sliding_window_shapes=window,
                strides=strides,
                baselines=base[None],
                target=int(target),
                perturbations_per_eval=per_eval,
            )[0]
    recorded = {**asdict(settings), "baseline": removed, "window_frames": window[1], "stride_frames": strides[1],
                "perturbations_per_eval": per_eval, "incremental": path is not None}
    return {"occlusion": subject.make_map("occlusion", values, target, recorded, started)}
