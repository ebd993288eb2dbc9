"""KernelSHAP (captum ``KernelShap``) on the same time x mel-band grid as LIME (``maps.Grid``).

Shapley values of the grid cells, estimated by captum's weighted linear regression over coalitions drawn with the
Shapley kernel; a removed cell takes the baseline's values (``core.explain.baselines``). Coalitions are scored in
batches sized by ``Subject.batch_size``. Unlike LIME's weights, the cells' values add up to the difference
between the clip's logit and the fully removed clip's.

With ``stop_when_converged`` captum's own coalition generator is ended early once the regression's coefficients
have settled (``core.explain.convergence``: captum's interpretable model refitted, at batch boundaries, on the
coalitions scored so far); captum then fits its regression on every coalition drawn, exactly as a full call with
``n_samples=samples_used`` would.
"""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from captum.attr import KernelShap
from torch.utils.data import DataLoader, TensorDataset

from core.explain.baselines import REMOVAL_HELP, REMOVALS
from core.explain.convergence import STOP_HELP, TOLERANCE, TOLERANCE_HELP, Convergence
from core.explain.lime import grid_for
from core.explain.maps import AttributionMap
from core.explain.registry import MethodSpec, register_method, setting
from core.explain.subject import Subject, locked, reporting


_GLOBAL_RNG = threading.Lock()


@dataclass(frozen=True)
class KernelShapSettings:
    num_samples: int = setting(500, label="Samples", low=20, high=5000, step=50,
                               help="Most coalitions of cells the regression is fitted to (all of them when not "
                                    "stopping early).")
    stop_when_converged: bool = setting(True, label="Stop when converged", help=STOP_HELP)
    tolerance: float = setting(TOLERANCE, label="Tolerance", help=TOLERANCE_HELP, low=1e-4, high=1.0, shown=False)
    cell_ms: float = setting(250.0, label="Cell (ms)", help="Length of one grid cell (as LIME's).", low=20.0,
                             high=3000.0, step=10.0)
    cell_bands: int = setting(8, label="Cell (bands)", help="Height of one grid cell in mel bands.", low=1, high=128)
    baseline: str = setting("auto", label="Baseline", choices=REMOVALS, help=REMOVAL_HELP)
    seed: int = setting(0, label="Seed", help="Draws the coalitions.", low=0, high=2**31 - 1)
    batch_size: int | None = setting(None, label="Batch", low=1, shown=False,
                                     help="None: Subject.batch_size() (free memory, cache on CPU).")


class _StopWhenConverged:
    """Wraps a ``KernelShap``'s coalition generator and forward: records what captum draws and scores, and ends
    the generator (captum then fits on what it has) once ``stopping`` says the coefficients have converged."""

    def __init__(self, explainer: KernelShap, target: int, stopping: Convergence):
        self.explainer, self.target, self.stopping = explainer, target, stopping
        self.coalitions, self.weights, self.outputs = [], [], []
        self.scored, self.converged = 0, False
        self.draw, self.forward = explainer.perturb_func, explainer.forward_func
        explainer.perturb_func, explainer.forward_func = self.generate, self

    def generate(self, inputs, **kwargs):
        """captum's generator, asked to stop only at a batch boundary (every coalition drawn has been scored)."""
        for coalition in self.draw(inputs, **kwargs):
            n = len(self.coalitions)
            if n == self.scored and self.stopping.converged(n, self.refit):
                self.converged = True
                return
            self.coalitions.append(coalition)
            self.weights.append(self.explainer.similarity_func(inputs, None, coalition, **kwargs))
            yield coalition

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        out = self.forward(batch)
        self.outputs.append(out[:, self.target].float())
        self.scored += len(batch)
        return out

    def refit(self) -> torch.Tensor:
        """captum's interpretable model fitted, as ``LimeBase.attribute`` does, on the coalitions scored so far."""
        data = TensorDataset(torch.cat(self.coalitions).float().cpu(), torch.cat(self.outputs).cpu(),
                             torch.cat(self.weights).float().cpu())
        # Fitting draws from the global RNG (the DataLoader's seed, nn.Linear's init) that captum draws the coalitions
        # from: put it back, so that a stopped run has the coalitions of a full one.
        with torch.random.fork_rng(devices=[]):
            self.explainer.interpretable_model.fit(DataLoader(data, batch_size=len(data)))
        return self.explainer.interpretable_model.representation().detach().flatten().cpu()


@register_method(MethodSpec(
    name="kernelshap", title="KernelSHAP", settings=KernelShapSettings,
    cost=lambda subject, settings: settings.num_samples,  # at most: stopping early makes fewer
    description="Shapley values of the time x band cells, by captum's kernel-weighted regression.",
    reference="Lundberg & Lee 2017; captum KernelShap",
))
def kernelshap(subject: Subject, target: int, settings: KernelShapSettings = KernelShapSettings(),
               progress: Callable[[float], None] | None = None) -> dict[str, AttributionMap]:
    started = time.perf_counter()
    grid = grid_for(subject, settings)
    cells = torch.as_tensor(grid.labels(), device=subject.device)[None]
    removed, base = subject.removed(settings.baseline, settings.seed)
    base = base[None]
    size = settings.batch_size or subject.batch_size()
    explainer = KernelShap(reporting(locked(subject.model), 1 + -(-settings.num_samples // size), progress))
    stopping = Convergence.for_cells(grid.n_cells, settings.tolerance) if settings.stop_when_converged else None
    watch = _StopWhenConverged(explainer, int(target), stopping) if stopping else None
    # The model's lock is taken per forward (``locked``), so other sessions' Grad-CAM gets in between; the global
    # RNG captum draws coalitions from is held for the whole run, so concurrent runs stay deterministic.
    with _GLOBAL_RNG, torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Generator completed prior")  # captum's note when our generator stopped
        torch.manual_seed(settings.seed)  # captum draws the coalitions from the global RNG
        values = explainer.attribute(subject.features[None], baselines=base, target=int(target), feature_mask=cells,
                                     n_samples=settings.num_samples, perturbations_per_eval=size)
    if progress:
        progress(1.0)
    recorded = {**asdict(settings), "baseline": removed, "batch_size": size,
                "cells": [grid.n_band_cells, grid.n_frame_cells],
                "samples_used": len(watch.coalitions) if watch else settings.num_samples,
                "converged": bool(watch and watch.converged)}
    return {"kernelshap": subject.make_map("kernelshap", values[0], target, recorded, started)}
