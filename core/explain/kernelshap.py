"""KernelSHAP (captum ``KernelShap``) on the same time x mel-band grid as LIME (``maps.Grid``).

Shapley values of the grid cells, estimated by captum's weighted linear regression over coalitions drawn with the
Shapley kernel; a removed cell takes the baseline's values (``core.explain.baselines``). Coalitions are scored in
batches sized by ``Subject.batch_size``. Unlike LIME's weights, the cells' values add up to the difference
between the clip's logit and the fully removed clip's.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from captum.attr import KernelShap

from core.explain.baselines import REMOVAL_HELP, REMOVALS
from core.explain.lime import grid_for
from core.explain.maps import AttributionMap
from core.explain.registry import MethodSpec, register_method, setting
from core.explain.subject import Subject, model_lock, reporting


@dataclass(frozen=True)
class KernelShapSettings:
    num_samples: int = setting(500, label="Samples", help="Coalitions of cells the regression is fitted to.",
                               low=20, high=5000, step=50)
    cell_ms: float = setting(250.0, label="Cell (ms)", help="Length of one grid cell (as LIME's).", low=20.0,
                             high=3000.0, step=10.0)
    cell_bands: int = setting(8, label="Cell (bands)", help="Height of one grid cell in mel bands.", low=1, high=128)
    baseline: str = setting("auto", label="Baseline", choices=REMOVALS, help=REMOVAL_HELP)
    seed: int = setting(0, label="Seed", help="Draws the coalitions.", low=0, high=2**31 - 1)
    batch_size: int | None = setting(None, label="Batch", low=1, shown=False,
                                     help="None: Subject.batch_size() (free memory, cache on CPU).")


@register_method(MethodSpec(
    name="kernelshap", title="KernelSHAP", settings=KernelShapSettings,
    cost=lambda subject, settings: settings.num_samples,
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
    with model_lock(subject.model), torch.no_grad():
        torch.manual_seed(settings.seed)  # captum draws the coalitions from the global RNG
        values = KernelShap(reporting(subject.model, 1 + -(-settings.num_samples // size), progress)).attribute(
            subject.features[None], baselines=base, target=int(target), feature_mask=cells,
            n_samples=settings.num_samples, perturbations_per_eval=size)
    recorded = {**asdict(settings), "baseline": removed, "batch_size": size,
                "cells": [grid.n_band_cells, grid.n_frame_cells]}
    return {"kernelshap": subject.make_map("kernelshap", values[0], target, recorded, started)}
