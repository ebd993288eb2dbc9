"""LIME and KernelSHAP stop sampling once their surrogate's coefficients have converged (core.explain.convergence).

On the planted-patch model a stopped run keeps the patch's cells on top and ranks the cells closer to the full run
than a full run with another seed does (the off-patch cells' order is sampling noise even at 500 samples); a
stopped run is exactly a full run of the samples it used; with stopping off a run is today's computation.
"""

import numpy as np
import pytest
import sklearn.metrics
import torch
from captum.attr import KernelShap
from lime.lime_base import LimeBase
from scipy.stats import spearmanr

from planted_patch import PATCH_BANDS, PATCH_FRAMES
from core.explain.convergence import Convergence, relative_change
from core.explain.kernelshap import KernelShapSettings, kernelshap
from core.explain.lime import LimeSettings, grid_for, lime

METHODS = {"lime": (lime, LimeSettings), "kernelshap": (kernelshap, KernelShapSettings)}
# The toy spectrograms are N(0, 1) noise: the band mean is the neutral baseline (see test_methods).
PLANTED = {"num_samples": 500, "baseline": "mean"}


def run(subject, name, **settings):
    explain, settings_type = METHODS[name]
    return explain(subject, 1, settings_type(**settings))[name]


def cell_values(subject, m) -> np.ndarray:
    grid = grid_for(subject, LimeSettings())
    return m.values[:: grid.band_step, :: grid.frame_step].ravel()


def patch_cells(subject) -> set[int]:
    """The grid cells the planted patch lies in (6 of the 32 cells of the default 250 ms x 8-band grid)."""
    return set(np.unique(grid_for(subject, LimeSettings()).labels()[PATCH_BANDS, PATCH_FRAMES]).tolist())


def top(values: np.ndarray, k: int) -> set[int]:
    return set(np.argsort(-values)[:k].tolist())


@pytest.mark.parametrize("name", METHODS)
def test_a_stopped_run_keeps_the_patch_on_top_and_the_ranking_of_the_full_run(planted_subject, name):
    stopped = run(planted_subject, name, **PLANTED)
    full = run(planted_subject, name, stop_when_converged=False, **PLANTED)
    other_seed = run(planted_subject, name, stop_when_converged=False, seed=1, **PLANTED)
    assert stopped.settings["converged"] and stopped.settings["samples_used"] < PLANTED["num_samples"]
    assert full.settings["samples_used"] == PLANTED["num_samples"] and not full.settings["converged"]
    a, b, c = (cell_values(planted_subject, m) for m in (stopped, full, other_seed))
    patch = patch_cells(planted_subject)
    assert top(a, len(patch)) == top(b, len(patch)) == patch
    assert spearmanr(a, b)[0] > spearmanr(c, b)[0] + 0.1


@pytest.mark.parametrize("batch", [16, 12])  # 12: checks fall inside batches, and wait for the batch's end
@pytest.mark.parametrize("name", METHODS)
def test_a_stopped_run_is_the_full_run_of_the_samples_it_used(planted_subject, name, batch):
    progress = []
    explain, settings_type = METHODS[name]
    stopped = explain(planted_subject, 1, settings_type(**PLANTED, batch_size=batch), progress=progress.append)[name]
    used = stopped.settings["samples_used"]
    assert stopped.settings["converged"] and used < PLANTED["num_samples"] and used % batch == 0
    same = run(planted_subject, name, **{**PLANTED, "num_samples": used, "stop_when_converged": False,
                                         "batch_size": batch})
    np.testing.assert_array_equal(stopped.values, same.values)
    assert progress[-1] == 1.0 and progress == sorted(progress)
    if name == "lime":  # samples done / samples at most, one report per batch
        assert progress[:-1] == [n / PLANTED["num_samples"] for n in range(batch, used, batch)]


def test_without_stopping_lime_is_limebase_on_every_sample(planted_subject):
    """Today's computation, written out: all samples drawn, scored, and fitted once by LimeBase."""
    s = LimeSettings(num_samples=200, stop_when_converged=False)
    ours = lime(planted_subject, 1, s)["lime"]
    assert ours.settings["samples_used"] == 200 and not ours.settings["converged"]
    grid = grid_for(planted_subject, s)
    samples = np.random.default_rng(s.seed).integers(0, 2, size=(s.num_samples, grid.n_cells)).astype(np.float64)
    samples[0] = 1.0
    _, base = planted_subject.removed(s.baseline, s.seed)
    keep = torch.as_tensor(samples, dtype=torch.float32)[:, torch.as_tensor(grid.labels())]
    labels = torch.cat([planted_subject.probabilities(part, chunk=16)
                        for part in (base + keep * (planted_subject.features - base)).split(16)]).numpy()
    distances = sklearn.metrics.pairwise_distances(samples, samples[:1], metric="cosine").ravel()
    _, weights, _, _ = LimeBase(lambda d: np.sqrt(np.exp(-(d**2) / s.kernel_width**2)), random_state=s.seed) \
        .explain_instance_with_data(samples, labels, distances, 1, num_features=grid.n_cells, feature_selection="none")
    expected = np.zeros(grid.n_cells)
    for cell, weight in weights:
        expected[cell] = weight
    np.testing.assert_array_equal(ours.values, grid.expand(expected).astype(np.float32))


def test_without_stopping_kernelshap_is_captums_call(planted_subject):
    s = KernelShapSettings(num_samples=200, stop_when_converged=False)
    ours = kernelshap(planted_subject, 1, s)["kernelshap"]
    assert ours.settings["samples_used"] == 200 and not ours.settings["converged"]
    cells = torch.as_tensor(grid_for(planted_subject, s).labels())[None]
    _, base = planted_subject.removed(s.baseline, s.seed)
    torch.manual_seed(s.seed)
    with torch.no_grad():
        theirs = KernelShap(planted_subject.model).attribute(
            planted_subject.features[None], baselines=base[None], target=1, feature_mask=cells, n_samples=200,
            perturbations_per_eval=ours.settings["batch_size"])
    np.testing.assert_array_equal(ours.values, theirs[0].numpy())
    first, second = (kernelshap(planted_subject, 1, KernelShapSettings(num_samples=200))["kernelshap"] for _ in "ab")
    np.testing.assert_array_equal(first.values, second.values)  # deterministic for a seed with stopping on too


def checks_until_stop(sequence, **rule) -> int | None:
    """Index of the refit after which ``Convergence`` stops, feeding one coefficient vector per check."""
    convergence = Convergence(**{"tolerance": 0.05, "min_samples": 10, "check_every": 10, **rule})
    for k, coefficients in enumerate(sequence):
        if convergence.converged(10 * (k + 1), lambda: coefficients):
            return k
    return None


def test_the_criterion_on_synthetic_coefficients():
    rng = np.random.default_rng(0)
    settling = [np.ones(20) + 0.5**k * rng.normal(size=20) for k in range(20)]
    changes = [relative_change(settling[k], settling[k - 1]) for k in range(1, 20)]
    first_calm_pair = next(k for k in range(1, 19) if changes[k - 1] < 0.05 and changes[k] < 0.05) + 1
    assert checks_until_stop(settling) == first_calm_pair
    wandering = [rng.normal(size=20) for _ in range(20)]  # never settles
    assert checks_until_stop(wandering) is None
    a, b = np.ones(20), np.ones(20) * 2
    assert checks_until_stop([a, a, b, b, b]) == 4  # one calm check (a, a) is not enough; the jump resets it
    assert checks_until_stop([a, a, a]) == 2
    assert relative_change(np.zeros(3), np.zeros(3)) == 0.0


def test_refits_happen_only_when_a_check_is_due():
    refits = []
    convergence = Convergence(tolerance=0.05, min_samples=64, check_every=20)
    for n in range(16, 200, 16):
        convergence.converged(n, lambda: refits.append(n) or np.ones(3))
    assert refits == [64, 96, 128, 160, 192]  # from min_samples on, at least check_every apart
    rule = Convergence.for_cells(96)
    assert (rule.min_samples, rule.check_every) == (192, 24)
    assert Convergence.for_cells(32).check_every == 16
