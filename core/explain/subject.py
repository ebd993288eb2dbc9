"""What every explainer works on: a model, one clip's features on the device, and their axes.

Every method in ``core.explain`` has the same call shape (``core.explain.registry``):
``explain(subject, target, settings, progress) -> {name: AttributionMap}``.
"""

from __future__ import annotations

import threading
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from core.explain import compiled
from core.explain.baselines import baseline, removal_for
from core.explain.maps import AttributionMap
from core.features import FeatureConfig, frame_times, mel_band_hz

_LOCKS: "weakref.WeakKeyDictionary[nn.Module, threading.RLock]" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """One re-entrant lock per model object, held by EVERY use of a shared model (forwards,
    hooks, copies): a hook registered by one thread fires on any thread's forward, so even a
    pure forward must not overlap another thread's Grad-CAM. torch already spreads one forward
    over all cores, so serialising calls per model costs little."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


def locked(model: nn.Module) -> Callable:
    """``model`` called under its lock one forward at a time: a long method (occlusion, KernelSHAP) holds the
    lock per forward, not for its whole run, so another session's Grad-CAM gets in between."""

    def forward(*args, **kwargs):
        with model_lock(model):
            return model(*args, **kwargs)

    return forward


@contextmanager
def forward_hook(module: nn.Module, hook: Callable) -> Iterator[None]:
    """Register a forward hook for the duration of a block; removed on every path."""
    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def reporting(forward: Callable, expected_calls: int, progress: Callable[[float], None] | None) -> Callable:
    """``forward`` reporting ``calls / expected_calls`` to ``progress`` before each call: progress from inside
    captum's loops (occlusion windows, path steps, coalitions), and the point where a cancelled job stops, since
    its ``progress`` raises there."""
    if progress is None:
        return forward
    calls = 0

    def counted(*args, **kwargs):
        nonlocal calls
        progress(min(0.99, calls / max(1, expected_calls)))
        calls += 1
        return forward(*args, **kwargs)

    return counted


@dataclass(frozen=True, eq=False)
class Subject:
    """A model (eval mode, on ``device``) and one clip's features ``(bands, frames)`` on the same device."""

    model: nn.Module
    features: torch.Tensor
    cfg: FeatureConfig
    labels: Sequence[str]
    padding: str = "zeros"  # how the model's training padded short clips (core.audio.PADDINGS)

    @property
    def device(self) -> torch.device:
        return self.features.device

    @property
    def frame_times(self) -> np.ndarray:
        return frame_times(self.features.shape[-1], self.cfg).numpy()

    @property
    def band_hz(self) -> np.ndarray:
        if self.cfg.kind == "mfcc":
            return np.arange(self.cfg.n_mfcc, dtype=np.float32)  # coefficient index, not Hz
        return mel_band_hz(self.cfg).numpy()

    def batch_size(self, budget_bytes: int | None = None) -> int:
        """How many perturbed copies of the clip one forward should take.

        On a GPU: a quarter of free memory over a generous per-input estimate (activations of
        a small CNN are ~100x the input), at most 256. On a CPU: at most 16, because forwards
        run faster per input in batches whose activations stay in cache (the demo cnn-eca on
        2 cores: ~4 ms per input in batches of 16, ~6 ms in batches of 64).
        """
        per_input = self.features.numel() * self.features.element_size() * 100
        if budget_bytes is None:
            if self.device.type == "cuda":
                budget_bytes = torch.cuda.mem_get_info(self.device)[0] // 4
            else:
                budget_bytes = 512 * 2**20
        cap = 256 if self.device.type == "cuda" else 16
        return int(max(1, min(cap, budget_bytes // per_input)))

    def removed(self, kind: str, seed: int = 0) -> tuple[str, torch.Tensor]:
        """What a removal method puts in the cells it removes: the baseline ``kind`` (``baselines.REMOVALS``,
        "auto" resolved by this model's padding) stands for, and that baseline for this clip."""
        name = removal_for(kind, self.padding)
        return name, baseline(self.features, name, seed=seed)

    def probabilities(self, batch: torch.Tensor, *, chunk: int | None = None) -> torch.Tensor:
        """Softmax outputs for ``(N, bands, frames)`` inputs, in chunks, without gradients; through a compiled
        copy of the model where one is ready (``core.explain.compiled``)."""
        chunk = chunk or self.batch_size()
        with model_lock(self.model), torch.no_grad():
            return torch.cat([torch.softmax(compiled.forward(self.model, part, chunk), dim=-1)
                              for part in batch.split(chunk)])

    def make_map(self, method: str, values: torch.Tensor | np.ndarray, target: int, settings: dict[str, Any],
                 started: float) -> AttributionMap:
        if isinstance(values, torch.Tensor):
            values = values.detach().float().cpu().numpy()
        return AttributionMap(
            method=method,
            values=np.asarray(values, dtype=np.float32),
            target=int(target),
            target_label=self.labels[target],
            frame_times=self.frame_times,
            band_hz=self.band_hz,
            settings=dict(settings),
            seconds=time.perf_counter() - started,
        )
