"""Numbers that say which explanation to trust.

- Faithfulness: deletion and insertion curves (remove / add the most important units first,
  watch the target probability) and their AUC, by time frames, mel bands or grid cells.
  A faithful map gives a low deletion AUC and a high insertion AUC; a random order is the
  reference.
- Sanity: cascading model randomisation (Adebayo et al., 2018): re-initialise layers from the
  top down; a map that barely changes (high rank correlation) does not explain the model.
- Localisation on planted-cue clips: share of positive attribution inside the cue, and the
  pointing game (does the map's peak fall inside it).
- Agreement between methods on one clip: Spearman rank correlation and top-k% IoU.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from itertools import combinations
from typing import Callable, Literal

import numpy as np
import scipy.stats
import torch
from torch import nn

from core.errors import ConfigError
from core.explain.baselines import baseline
from core.explain.maps import AttributionMap, Grid
from core.explain.subject import Subject, model_lock

Unit = Literal["frames", "bands", "cells"]
UNITS = ("frames", "bands", "cells")


@dataclass(frozen=True)
class Curve:
    method: str
    mode: str  # "deletion" | "insertion"
    unit: str
    fractions: np.ndarray  # share of units removed / inserted
    scores: np.ndarray  # target probability at each step
    auc: float


def unit_index(shape: tuple[int, int], unit: Unit, cell: tuple[int, int] = (8, 25)) -> np.ndarray:
    """``(bands, frames)`` array giving each grid point its unit (frame, band or cell) index."""
    bands, frames = shape
    if unit == "frames":
        return np.broadcast_to(np.arange(frames)[None, :], shape)
    if unit == "bands":
        return np.broadcast_to(np.arange(bands)[:, None], shape)
    if unit == "cells":
        return Grid(bands, frames, min(cell[0], bands), min(cell[1], frames)).labels()
    raise ConfigError(f"Unknown unit '{unit}'. Choose one of: {', '.join(UNITS)}.")


def unit_ranks(values: np.ndarray, unit: Unit, order: str = "attribution", seed: int = 0) -> np.ndarray:
    """Rank (0 = most important) of each grid point's unit, by summed attribution or at random."""
    index = unit_index(values.shape, unit)
    n_units = int(index.max()) + 1
    if order == "random":
        importance = np.random.default_rng(seed).random(n_units)
    else:
        importance = np.bincount(index.ravel(), weights=values.ravel(), minlength=n_units)
    rank_of_unit = np.empty(n_units, dtype=np.int64)
    rank_of_unit[np.argsort(-importance, kind="stable")] = np.arange(n_units)
    return rank_of_unit[index]


def perturbation_curve(subject: Subject, attribution: AttributionMap, *, mode: str = "deletion", unit: Unit = "frames",
                       baseline_kind: str = "silence", steps: int = 20, order: str = "attribution",
                       seed: int = 0) -> Curve:
    """Target probability as the top-ranked units are removed (deletion) or inserted (insertion).

    All ``steps + 1`` perturbed inputs are built as one tensor on the device and scored in
    batches; AUC is the trapezoid over the removed/inserted fraction (0..1).
    """
    if mode not in ("deletion", "insertion"):
        raise ConfigError(f"Unknown curve '{mode}'. Choose 'deletion' or 'insertion'.")
    ranks_np = unit_ranks(attribution.values, unit, order, seed)
    n_units = int(ranks_np.max()) + 1
    ranks = torch.as_tensor(np.ascontiguousarray(ranks_np), device=subject.device)
    counts = torch.round(torch.linspace(0, n_units, steps + 1, device=subject.device)).long()
    chosen = ranks[None] < counts[:, None, None]  # (steps+1, bands, frames): the top-k units
    base = baseline(subject.features, baseline_kind, seed=seed)
    x, b = subject.features[None], base[None]
    batch = torch.where(chosen, b, x) if mode == "deletion" else torch.where(chosen, x, b)
    scores = subject.probabilities(batch)[:, attribution.target].cpu().numpy()
    fractions = (counts.float() / n_units).cpu().numpy()
    return Curve(attribution.method if order == "attribution" else "random", mode, unit, fractions, scores,
                 float(np.trapezoid(scores, fractions)))


def faithfulness(subject: Subject, maps: dict[str, AttributionMap], *, unit: Unit = "cells",
                 baseline_kind: str = "mean", steps: int = 20) -> dict[str, dict[str, Curve]]:
    """Deletion and insertion curves for every map, plus the random-order reference.

    The defaults (time x band cells filled with each band's mean) keep the random reference
    meaningful: scattering silent frames at random breaks a clip far more than removing one
    contiguous region does, which would make random order look like the best explanation.
    """
    any_map = next(iter(maps.values()))
    result = {name: {mode: perturbation_curve(subject, m, mode=mode, unit=unit, baseline_kind=baseline_kind, steps=steps)
                     for mode in ("deletion", "insertion")} for name, m in maps.items()}
    result["random"] = {mode: perturbation_curve(subject, any_map, mode=mode, unit=unit, baseline_kind=baseline_kind,
                                                 steps=steps, order="random") for mode in ("deletion", "insertion")}
    return result


# ---------------------------------------------------------------------------------- sanity


def _layers_top_down(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Names of the modules owning parameters directly, from the output back to the input, in the order one
    forward of ``x`` runs them.

    Parallel branches (fusion's VGGish and YAMNet, each a top-level child) are walked down together, layer by
    layer from each branch's top, after the modules that run after them (the head): cascading randomisation
    (Adebayo et al. 2018) is defined from the output down, and randomising one whole branch before the other
    would say more about the branch order than about the map.
    """
    owners = {module: name for name, module in model.named_modules()
              if name and any(True for _ in module.parameters(recurse=False)) and hasattr(module, "reset_parameters")}
    ran: list[str] = []
    handles = [m.register_forward_pre_hook(lambda mod, args: ran.append(owners[mod])) for m in owners]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    order = list(dict.fromkeys(ran))  # first run of each, in execution order
    groups: dict[str, list[str]] = {}
    for name in order:
        groups.setdefault(name.split(".")[0], []).append(name)
    last_group = order[-1].split(".")[0] if order else ""
    ranked = []  # (after the branches?, depth from the group's top, group position, name)
    for position, (group, names) in enumerate(groups.items()):
        for depth, name in enumerate(reversed(names)):
            ranked.append((group != last_group, depth, position, name))
    return [name for *_, name in sorted(ranked)]


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho between two maps (0 when either is constant)."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(scipy.stats.spearmanr(a.ravel(), b.ravel()).statistic)


@dataclass(frozen=True)
class SanityStep:
    layer: str  # the deepest layer randomised so far (all layers above it are random too)
    rank_correlation: float


def randomisation_check(subject: Subject, explain: Callable[[Subject], AttributionMap], *,
                        seed: int = 0, max_steps: int | None = None) -> list[SanityStep]:
    """Cascading randomisation: re-initialise layers top-down and compare each map with the original.

    ``explain`` maps a subject to an attribution map for a fixed target (e.g. Grad-CAM of the
    predicted class). The original model is left untouched (a copy is randomised).
    """
    original = explain(subject).values
    with model_lock(subject.model):  # never copy another thread's live hooks
        randomised = copy.deepcopy(subject.model).eval()
    layers = _layers_top_down(randomised, subject.features[None])[:max_steps]
    cuda = [subject.device] if subject.device.type == "cuda" else []
    steps = []
    with torch.random.fork_rng(devices=cuda):  # seeded re-initialisation; the caller's RNG state comes back
        torch.manual_seed(seed)
        for name in layers:
            randomised.get_submodule(name).reset_parameters()
            changed = Subject(randomised, subject.features, subject.cfg, subject.labels, subject.padding)
            steps.append(SanityStep(name, rank_correlation(original, explain(changed).values)))
    return steps


# ----------------------------------------------------------------------------- localisation


@dataclass(frozen=True)
class Localisation:
    inside_share: float  # positive attribution inside the cue / all positive attribution
    pointing_hit: bool  # the map's peak lies inside the cue
    chance: float  # the cue's share of the clip's frames (what a uniform map would score)
    # Does the model itself, hearing each word of the clip alone, give the cue word the target's highest probability?
    # None where the clip records no word spans. Set per clip by ``core.explain.tables``, to tell a map that misses
    # the cue because the model does from one that misses it on its own.
    model_ranks_cue_first: bool | None = None
    emotion: str = ""  # the planted cue's emotion (the clip's label), to break the table down by emotion


def localisation(attribution: AttributionMap, cue_start: float, cue_end: float) -> Localisation:
    inside = (attribution.frame_times >= cue_start) & (attribution.frame_times <= cue_end)
    positive = np.clip(attribution.values, 0.0, None)
    total = positive.sum()
    share = float(positive[:, inside].sum() / total) if total > 0 else 0.0
    peak_frame = np.unravel_index(int(np.argmax(attribution.values)), attribution.values.shape)[1]
    return Localisation(share, bool(inside[peak_frame]), float(inside.mean()))


# -------------------------------------------------------------------------------- agreement


def top_iou(a: np.ndarray, b: np.ndarray, fraction: float = 0.2) -> float:
    """Intersection over union of the top ``fraction`` grid points of two maps."""
    k = max(1, int(round(fraction * a.size)))
    top_a = set(np.argpartition(-a.ravel(), k - 1)[:k].tolist())
    top_b = set(np.argpartition(-b.ravel(), k - 1)[:k].tolist())
    return len(top_a & top_b) / len(top_a | top_b)


def agreement(maps: dict[str, AttributionMap], fraction: float = 0.2) -> dict[tuple[str, str], dict[str, float]]:
    """Rank correlation and top-k% IoU for every pair of maps on the same grid."""
    result = {}
    for (na, ma), (nb, mb) in combinations(maps.items(), 2):
        if ma.shape != mb.shape:
            continue
        result[(na, nb)] = {"rank_correlation": rank_correlation(ma.values, mb.values),
                            "top_iou": top_iou(ma.values, mb.values, fraction)}
    return result
