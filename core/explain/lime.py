"""LIME on a time x mel-band grid, using the ``lime`` package's ``LimeBase``.

Interpretable features are grid cells (``maps.Grid``), never image superpixels. We draw the
binary on/off samples with a seeded generator, build every perturbed spectrogram on the device
in one tensor op per chunk, score them with batched forwards, and hand the samples, the
model's probabilities and the cosine distances to ``LimeBase.explain_instance_with_data``,
which does LIME's kernel weighting and ridge fit. The map gives each cell its LIME weight. Where the model's
stem allows, a sample's early layers are gathered from precomputed cell patterns (``core.explain.patterns``,
exact) instead of computed.

With ``stop_when_converged`` the chunks stop once the surrogate's weights have settled
(``core.explain.convergence``: LimeBase refitted on the samples so far); the final fit uses every
sample drawn, and ``samples_used`` / ``converged`` in the map's settings say where it stopped.
A stopped run is a full run with ``num_samples=samples_used``, since the samples are drawn up front.
"""

from __future__ import annotations

import time
from functools import partial
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import sklearn.metrics
import torch
from lime.lime_base import LimeBase

from core.explain.baselines import REMOVAL_HELP, REMOVALS
from core.explain.convergence import STOP_HELP, TOLERANCE, TOLERANCE_HELP, Convergence
from core.explain.maps import AttributionMap, Grid
from core.explain.registry import MethodSpec, register_method, setting
from core.explain import patterns
from core.explain.subject import Subject, model_lock


@dataclass(frozen=True)
class LimeSettings:
    num_samples: int = setting(500, label="Samples", low=20, high=5000, step=50,
                               help="Most perturbed copies of the clip the surrogate is fitted to (all of them when "
                                    "not stopping early).")
    stop_when_converged: bool = setting(True, label="Stop when converged", help=STOP_HELP)
    tolerance: float = setting(TOLERANCE, label="Tolerance", help=TOLERANCE_HELP, low=1e-4, high=1.0, shown=False)
    cell_ms: float = setting(250.0, label="Cell (ms)", help="Length of one grid cell.", low=20.0, high=3000.0, step=10.0)
    cell_bands: int = setting(8, label="Cell (bands)", help="Height of one grid cell in mel bands.", low=1, high=128)
    baseline: str = setting("auto", label="Baseline", choices=REMOVALS, help=REMOVAL_HELP)
    kernel_width: float = setting(0.25, label="Kernel width", help="LIME's proximity kernel (lime_image's default).",
                                  low=0.01, high=10.0, shown=False)
    seed: int = setting(0, label="Seed", help="Draws the on/off samples.", low=0, high=2**31 - 1)
    cell_patterns: bool = setting(True, label="Cell patterns", shown=False,
                                  help="Gather the early layers of every sample from a few precomputed cell patterns "
                                       "where the model allows it (core.explain.patterns): exact, and faster.")
    batch_size: int | None = setting(None, label="Batch", low=1, shown=False,
                                     help="None: Subject.batch_size() (free memory, cache on CPU).")


def grid_for(subject: Subject, settings: LimeSettings) -> Grid:
    bands, frames = subject.features.shape
    frame_step = max(1, int(round(settings.cell_ms / subject.cfg.hop_ms)))
    return Grid(bands, frames, min(settings.cell_bands, bands), min(frame_step, frames))


@register_method(MethodSpec(
    name="lime", title="LIME", settings=LimeSettings, default=True, progress=True,
    cost=lambda subject, settings: settings.num_samples,  # at most: stopping early makes fewer
    description="A weighted linear surrogate fitted to the model's outputs on copies with grid cells removed.",
    reference="Ribeiro et al. 2016; lime LimeBase",
))
def lime(subject: Subject, target: int, settings: LimeSettings = LimeSettings(),
         progress: Callable[[float], None] | None = None) -> dict[str, AttributionMap]:
    """LIME weights per grid cell, expanded to the ``(bands, frames)`` grid."""
    started = time.perf_counter()
    grid = grid_for(subject, settings)
    rng = np.random.default_rng(settings.seed)
    samples = rng.integers(0, 2, size=(settings.num_samples, grid.n_cells)).astype(np.float64)
    samples[0] = 1.0  # LIME's convention: the first sample is the unperturbed clip
    cells = torch.as_tensor(grid.labels(), device=subject.device)
    keep_all = torch.as_tensor(samples, dtype=subject.features.dtype, device=subject.device)
    removed, base = subject.removed(settings.baseline, settings.seed)
    distances = sklearn.metrics.pairwise_distances(samples, samples[:1], metric="cosine").ravel()
    kernel_width = settings.kernel_width

    def kernel(d):
        return np.sqrt(np.exp(-(d**2) / kernel_width**2))

    def fit(labels: np.ndarray) -> tuple[np.ndarray, float]:
        """LimeBase's weights per cell and R^2 on the first ``len(labels)`` samples."""
        n = len(labels)
        _, weights, score, _ = LimeBase(kernel, random_state=settings.seed).explain_instance_with_data(
            samples[:n], labels, distances[:n], int(target), num_features=grid.n_cells, feature_selection="none")
        cell_values = np.zeros(grid.n_cells)
        for cell, weight in weights:
            cell_values[cell] = weight
        return cell_values, score

    size = settings.batch_size or subject.batch_size()
    stopping = Convergence.for_cells(grid.n_cells, settings.tolerance) if settings.stop_when_converged else None
    expected = min(settings.num_samples, stopping.fewest) if stopping else settings.num_samples
    guard = partial(model_lock, subject.model)  # held per batch, never for the whole run
    path = patterns.plan(subject.model, subject.features, base, grid, expected, size, guard) if (
        settings.cell_patterns) else None
    probabilities, done, converged = [], 0, False
    while done < settings.num_samples and not converged:
        if path is not None:
            with guard(), torch.no_grad():
                probabilities.append(torch.softmax(path.logits(keep_all[done : done + size]), dim=-1))
        else:
            keep = keep_all[done : done + size][:, cells]  # (n, bands, frames) of 0/1
            probabilities.append(subject.probabilities(base + keep * (subject.features - base), chunk=size))
        done += len(probabilities[-1])
        converged = stopping is not None and done < settings.num_samples and stopping.converged(
            done, lambda: fit(torch.cat(probabilities).cpu().numpy())[0])
        if progress:
            progress(1.0 if converged else done / settings.num_samples)
    cell_values, score = fit(torch.cat(probabilities).cpu().numpy())
    recorded = {**asdict(settings), "baseline": removed, "batch_size": size, "cells": [grid.n_band_cells, grid.n_frame_cells],
                "fit_r2": float(score), "samples_used": done, "converged": converged, "cell_patterns": path is not None}
    return {"lime": subject.make_map("lime", grid.expand(cell_values), target, recorded, started)}
