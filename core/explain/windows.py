"""Long clips explained window by window, at the length the model was trained on.

A model trained on 3 s clips was never asked what a 60 s recording means as one input, and a perturbation
method's cost on a whole clip grows with the clip's length squared (occlusion: more windows, each a forward over
the whole clip). So a clip longer than ``LONG_CLIP_FACTOR`` times the model's training length is cut into windows
of that length (the last one aligned with the clip's end), each method explains every window for the clip's
target, and the window maps are stitched onto the clip's timeline, overlaps averaged. The cost grows linearly
with the clip's length, and every map is an explanation of an input the size the model knows.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable

import numpy as np

from core.explain import methods as registry
from core.explain.maps import AttributionMap
from core.explain.subject import Subject

#: Clips up to this many times the training length are explained whole; longer ones window by window.
LONG_CLIP_FACTOR = 2.0


def needs_windows(n_frames: int, window_frames: int) -> bool:
    """Whether a clip of ``n_frames`` is explained window by window."""
    return window_frames > 0 and n_frames > LONG_CLIP_FACTOR * window_frames


def window_starts(n_frames: int, window_frames: int) -> list[int]:
    """First frame of each window: back to back from the start, the last one ending at the clip's end."""
    if n_frames <= window_frames:
        return [0]
    starts = list(range(0, n_frames - window_frames + 1, window_frames))
    if starts[-1] + window_frames < n_frames:
        starts.append(n_frames - window_frames)
    return starts


def explain_in_windows(name: str, subject: Subject, target: int, settings: Any, window_frames: int,
                       progress: Callable[[float], None] | None = None) -> dict[str, AttributionMap]:
    """Method ``name`` on each window of ``subject`` (``core.explain.methods.explain``), stitched onto the whole
    clip's grid: ``{map name: AttributionMap}`` whose settings also record the windows."""
    started = time.perf_counter()
    n_frames = subject.features.shape[-1]
    starts = window_starts(n_frames, window_frames)
    report = progress or (lambda fraction: None)
    sums: dict[str, np.ndarray] = {}
    first: dict[str, AttributionMap] = {}
    counts = np.zeros(n_frames, dtype=np.float64)
    for i, start in enumerate(starts):
        stop = start + window_frames
        window = replace(subject, features=subject.features[:, start:stop])
        maps = registry.explain(name, window, target, settings,
                                progress=lambda f, i=i: report((i + f) / len(starts)))
        for key, m in maps.items():
            sums.setdefault(key, np.zeros((m.values.shape[0], n_frames), dtype=np.float64))[:, start:stop] += m.values
            first.setdefault(key, m)
        counts[start:stop] += 1
        report((i + 1) / len(starts))
    seconds = time.perf_counter() - started
    return {key: AttributionMap(
        method=m.method, values=(sums[key] / counts).astype(np.float32), target=m.target, target_label=m.target_label,
        frame_times=subject.frame_times, band_hz=m.band_hz,
        settings={**m.settings, "windows": len(starts), "window_frames": window_frames}, seconds=seconds,
    ) for key, m in first.items()}
