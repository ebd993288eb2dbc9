"""Gaussian data selection (S3): scores against a direct pairwise computation, and what it drops."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from core.data import selection
from core.errors import ConfigError
from core.features import log_mel, preset

SR = 16_000
N = int(0.975 * SR)  # 96 VGGish frames


def speech_like(i: int, g: torch.Generator) -> torch.Tensor:
    """A voiced, syllable-modulated harmonic complex at a speaker-like pitch."""
    t = torch.arange(N) / SR
    f0 = 100 + 15 * i
    envelope = (0.5 + 0.5 * torch.sin(2 * math.pi * (3 + 0.3 * i) * t)) ** 2
    voiced = sum(torch.sin(2 * math.pi * f0 * k * t) / k for k in range(1, 20))
    return 0.1 * envelope * voiced + 0.001 * torch.randn(N, generator=g)


@pytest.fixture(scope="module")
def segments():
    g = torch.Generator().manual_seed(0)
    waves = [speech_like(i, g) for i in range(10)] + [torch.zeros(N), 0.3 * torch.randn(N, generator=g)]
    spec = log_mel(torch.stack(waves), preset("vggish"))[..., :96]
    assert spec.shape == (12, 64, 96)
    return spec


@pytest.mark.parametrize("method", ["pearson", "bhattacharyya"])
def test_gds_drops_silence_and_noise_among_speech_and_reports_it(segments, method):
    chosen = selection.gaussian_data_selection(segments, 0.5, method=method)
    assert chosen.keep[:10].all() and not chosen.keep[10:].any()
    assert (chosen.total, chosen.kept, chosen.dropped) == (12, 10, 2)
    assert chosen.report() == {"scope": "emotion", "threshold": 0.5, "method": method, "normalise": "minmax",
                               "segments": 12, "kept": 10, "dropped": 2}
    assert float(chosen.scores.min()) == 0.0 and float(chosen.scores.max()) == 1.0


def test_pearson_sums_equal_pairwise_correlations_of_sampled_pdfs():
    rng = np.random.default_rng(1)
    mu = rng.normal(0, 2, 9)
    sigma = rng.uniform(0.5, 3, 9)
    grid = np.linspace((mu - 4 * sigma).min(), (mu + 4 * sigma).max(), 256)
    pdfs = norm.pdf(grid[None, :], mu[:, None], sigma[:, None])
    corr = np.corrcoef(pdfs)
    sums = corr.sum(axis=1) - 1.0
    expected = (sums - sums.min()) / (sums.max() - sums.min())
    got = selection.scores(torch.tensor(mu), torch.tensor(sigma), method="pearson")
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-9)
    mean = selection.scores(torch.tensor(mu), torch.tensor(sigma), normalise="mean")
    np.testing.assert_allclose(mean.numpy(), np.clip(sums / 8, 0, 1), atol=1e-9)


def test_bhattacharyya_coefficient_matches_numerical_overlap():
    mu, sigma = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0])
    x = np.linspace(-30, 30, 200_001)
    overlap = np.trapezoid(np.sqrt(norm.pdf(x, 0, 1) * norm.pdf(x, 1, 2)), x)
    sums = selection._bhattacharyya_sums(mu.double(), sigma.double())
    np.testing.assert_allclose(sums.numpy(), [overlap, overlap], rtol=1e-9)


def test_groups_are_scored_separately(segments):
    groups = torch.tensor([0] * 5 + [1] * 5 + [0, 1])
    chosen = selection.gaussian_data_selection(segments, 0.5, groups)
    assert chosen.dropped == 2 and not chosen.keep[10:].any()
    single = selection.scores(torch.tensor([0.0, 5.0]), torch.tensor([1.0, 1.0]), groups=[0, 1])
    assert single.tolist() == [1.0, 1.0]  # a segment alone in its group has nothing to disagree with


def test_bad_settings_are_config_errors(segments):
    with pytest.raises(ConfigError):
        selection.gaussian_data_selection(segments, 1.5)
    with pytest.raises(ConfigError):
        selection.gaussian_data_selection(segments, 0.5, method="kl")
