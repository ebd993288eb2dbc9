"""LIME on a time x mel-band grid, using the ``lime`` package's ``LimeBase``.

Interpretable features are grid cells (``maps.Grid``), never image superpixels. We draw the
binary on/off samples with a seeded generator, build every perturbed spectrogram on the device
in one tensor op per chunk, score them with batched forwards, and hand the samples, the
model's probabilities and the cosine distances to ``LimeBase.explain_instance_with_data``,
which does LIME's kernel weighting and ridge fit. The map gives each cell its LIME weight.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import sklearn.metrics
import torch
from lime.lime_base import LimeBase

from core.explain.baselines import baseline, removal_for
from core.explain.maps import AttributionMap, Grid
from core.explain.subject import Subject


@dataclass(frozen=True)
class LimeSettings:
    num_samples: int = 500
    cell_ms: float = 250.0
    cell_bands: int = 8
    baseline: str = "auto"  # core.explain.baselines.REMOVALS; auto: floor for noise-floor models, else silence
    kernel_width: float = 0.25  # lime_image's default
    seed: int = 0
    batch_size: int | None = None  # None: Subject.batch_size() (free memory, cache on CPU)


def grid_for(subject: Subject, settings: LimeSettings) -> Grid:
    bands, frames = subject.features.shape
    frame_step = max(1, int(round(settings.cell_ms / subject.cfg.hop_ms)))
    return Grid(bands, frames, min(settings.cell_bands, bands), min(frame_step, frames))


def lime(subject: Subject, target: int, settings: LimeSettings = LimeSettings(),
         progress: Callable[[float], None] | None = None) -> AttributionMap:
    """LIME weights per grid cell, expanded to the ``(bands, frames)`` grid."""
    started = time.perf_counter()
    grid = grid_for(subject, settings)
    rng = np.random.default_rng(settings.seed)
    samples = rng.integers(0, 2, size=(settings.num_samples, grid.n_cells)).astype(np.float64)
    samples[0] = 1.0  # LIME's convention: the first sample is the unperturbed clip
    cells = torch.as_tensor(grid.labels(), device=subject.device)
    keep_all = torch.as_tensor(samples, dtype=subject.features.dtype, device=subject.device)
    removed = removal_for(settings.baseline, subject.padding)
    base = baseline(subject.features, removed, seed=settings.seed)

    size = settings.batch_size or subject.batch_size()
    probabilities = []
    for start in range(0, settings.num_samples, size):
        keep = keep_all[start : start + size][:, cells]  # (n, bands, frames) of 0/1
        batch = base + keep * (subject.features - base)
        probabilities.append(subject.probabilities(batch, chunk=size))
        if progress:
            progress(min(1.0, (start + size) / settings.num_samples))
    labels = torch.cat(probabilities).cpu().numpy()

    distances = sklearn.metrics.pairwise_distances(samples, samples[:1], metric="cosine").ravel()
    kernel_width = settings.kernel_width

    def kernel(d):
        return np.sqrt(np.exp(-(d**2) / kernel_width**2))

    explainer = LimeBase(kernel, random_state=settings.seed)
    _, weights, score, _ = explainer.explain_instance_with_data(
        samples, labels, distances, int(target), num_features=grid.n_cells, feature_selection="none"
    )
    cell_values = np.zeros(grid.n_cells)
    for cell, weight in weights:
        cell_values[cell] = weight
    recorded = {**asdict(settings), "baseline": removed, "batch_size": size, "cells": [grid.n_band_cells, grid.n_frame_cells], "fit_r2": float(score)}
    return subject.make_map("lime", grid.expand(cell_values), target, recorded, started)
