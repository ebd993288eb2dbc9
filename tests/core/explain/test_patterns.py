"""Cell-pattern LIME forwards equal plain forwards of the perturbed clip, on every model where they apply."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from core.explain import patterns
from core.explain.lime import LimeSettings, grid_for, lime
from core.explain.maps import Grid
from core.models import available, build, demo_config
from tests.core.explain.test_incremental import subject_for, trained_looking

PATTERNED = ("cnn", "cnn-eca", "cnn-mha", "cnn-hf", "cnn-area")  # 2D conv stems: local in bands and in time
# Grids aligned with the pools and not: 8-band x 25-frame cells (LIME's default at 10 ms hops), 5 x 13, 11 x 7.
GRIDS = ((8, 25), (5, 13), (11, 7))


def perturbed(subject, base, grid: Grid, keep: torch.Tensor) -> torch.Tensor:
    cells = torch.as_tensor(grid.labels())
    return base + keep[:, cells] * (subject.features - base)


@pytest.mark.parametrize("name, frames, cell", [("cnn-eca", 301, cell) for cell in GRIDS] + [
    ("cnn-eca", 157, GRIDS[1]), ("cnn", 157, GRIDS[0])])  # 157 frames: odd tails at every pool
def test_patterned_logits_equal_plain_forwards(name, frames, cell):
    subject = subject_for(trained_looking(name), frames)
    base = torch.full_like(subject.features, -2.0)
    grid = Grid(*subject.features.shape, *cell)
    path = patterns.plan(subject.model, subject.features, base, grid, samples=500, batch=8)
    assert path is not None and path.cuts, "the pattern path should pay on a 2D conv stem"
    keep = torch.randint(0, 2, (12, grid.n_cells), generator=torch.Generator().manual_seed(2)).float()
    keep[0], keep[1] = 1.0, 0.0  # the clip itself and everything removed
    with torch.no_grad():
        want = subject.model(perturbed(subject, base, grid, keep))
        got = path.logits(keep)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=2e-6 * float(want.abs().max()))


def test_only_models_local_in_both_axes_get_patterns():
    """A 1D conv over MFCCs mixes every band: no receptive field stays inside a few cells, so no table pays."""
    planned = set()
    for name in available():
        torch.manual_seed(0)
        model = build(name, 3, **demo_config(name)).eval()
        subject = subject_for(model, 301)
        grid = grid_for(subject, LimeSettings())
        if patterns.plan(model, subject.features, torch.zeros_like(subject.features), grid, 500, 8) is not None:
            planned.add(name)
    assert planned == set(PATTERNED)


def test_too_few_samples_do_not_pay_for_the_tables():
    subject = subject_for(trained_looking("cnn-eca"), 301)
    grid = grid_for(subject, LimeSettings())
    assert patterns.plan(subject.model, subject.features, torch.zeros_like(subject.features), grid, 2, 8) is None


@pytest.mark.parametrize("name", PATTERNED + ("cnn-atn",))
def test_lime_map_is_the_same_with_and_without_patterns(name):
    subject = subject_for(trained_looking(name), 301)
    settings = LimeSettings(num_samples=300, baseline="mean", batch_size=16)
    with torch.no_grad():  # the predicted class: an untrained cnn-area's softmax is flat for the others
        target = int(subject.model(subject.features[None]).argmax())
    plain = lime(subject, target, replace(settings, cell_patterns=False))["lime"]
    fast = lime(subject, target, settings)["lime"]
    assert fast.settings["cell_patterns"] is (name in PATTERNED)
    assert plain.settings["cell_patterns"] is False
    assert fast.settings["samples_used"] == plain.settings["samples_used"]
    # LIME weights are in probability units: float32 rounding of the probabilities, through the ridge fit
    np.testing.assert_allclose(fast.values, plain.values, rtol=0, atol=5e-7)
    assert np.abs(plain.values).max() > 100 * 5e-7
