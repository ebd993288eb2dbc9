"""Gaussian data selection (GDS) of spectrogram segments, S3 (Kim & Kwak, Appl. Sci. 2024, Algorithm 1).

S3 cuts each log-mel spectrogram into overlapping 0.96 s segments, describes each segment by
a Gaussian fitted to its values, scores how typical a segment is by the *correlation between
the segments' Gaussians, summed and normalised*, and trains only on segments whose score is
above a threshold. Our reading, step by step:

1. **Fit** ``N(mu_i, sigma_i)`` per segment over all its log-mel values (bands x frames).
2. **Correlate** the Gaussians as curves: sample every pdf on one common grid spanning
   ``mu +- 4 sigma`` of all segments of a group, and take the Pearson correlation coefficient
   of two sampled pdfs (``method="pearson"``, the paper's "correlation coefficient between
   distributions"). ``method="bhattacharyya"`` uses the closed-form Bhattacharyya coefficient
   of two Gaussians instead (an overlap in [0, 1], no grid).
3. **Sum** each segment's correlations with every *other* segment of its group.
4. **Normalise** the sums to [0, 1]: ``"minmax"`` (default) maps the least typical segment
   of a group to 0 and the most typical to 1; ``"mean"`` divides by the number of other
   segments (a mean correlation, clipped to [0, 1]) and so drops nothing from a group of
   equally typical segments.
5. **Keep** segments whose score is above ``threshold``.

A group is what segments are compared within; the training loop compares segments of the
same emotion label. A silent or noise-only segment among speech has a Gaussian far from the
others' and is the one dropped. The Pearson sums cost O(N x grid): the sum of correlations
with all others is one dot product with the sum of the standardised pdfs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import torch

from core.errors import ConfigError

Method = Literal["pearson", "bhattacharyya"]
Normalise = Literal["minmax", "mean"]


@dataclass(frozen=True)
class Selection:
    """Which segments GDS keeps, with their scores and fitted Gaussians (all ``(N,)`` tensors)."""

    keep: torch.Tensor  # bool
    scores: torch.Tensor  # in [0, 1]
    mu: torch.Tensor
    sigma: torch.Tensor
    threshold: float
    method: str
    normalise: str

    @property
    def total(self) -> int:
        return int(self.keep.numel())

    @property
    def kept(self) -> int:
        return int(self.keep.sum())

    @property
    def dropped(self) -> int:
        return self.total - self.kept

    def report(self) -> dict:
        """JSON-able summary for a model card."""
        return {"threshold": self.threshold, "method": self.method, "normalise": self.normalise,
                "segments": self.total, "kept": self.kept, "dropped": self.dropped}


def gaussian_stats(segments: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation ``(N,)`` of each segment ``(N, ...)`` over all its values."""
    flat = segments.reshape(segments.shape[0], -1).to(torch.float64)
    return flat.mean(dim=1), flat.std(dim=1, unbiased=False)


def _pearson_sums(mu: torch.Tensor, sigma: torch.Tensor, grid_points: int) -> torch.Tensor:
    lo = float((mu - 4 * sigma).min())
    hi = float((mu + 4 * sigma).max())
    if hi <= lo:
        hi = lo + 1.0
    x = torch.linspace(lo, hi, grid_points, dtype=torch.float64, device=mu.device)
    # A Gaussian narrower than the grid step would fall between grid points; widen it to one step.
    s = sigma.clamp_min((hi - lo) / (grid_points - 1))
    pdf = torch.exp(-0.5 * ((x[None, :] - mu[:, None]) / s[:, None]) ** 2) / (s[:, None] * math.sqrt(2 * math.pi))
    centred = pdf - pdf.mean(dim=1, keepdim=True)
    norm = centred.norm(dim=1, keepdim=True)
    z = torch.where(norm > 0, centred / norm.clamp_min(1e-300), torch.zeros_like(centred))  # unit vectors
    total = z.sum(dim=0)
    return z @ total - (z * z).sum(dim=1)  # sum_j!=i corr(i, j)


def _bhattacharyya_sums(mu: torch.Tensor, sigma: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    var = sigma.clamp_min(1e-12) ** 2
    sums = torch.empty_like(mu)
    for start in range(0, mu.numel(), chunk):
        m, v = mu[start:start + chunk, None], var[start:start + chunk, None]
        pooled = v + var[None, :]
        bc = torch.sqrt(2 * torch.sqrt(v * var[None, :]) / pooled) * torch.exp(-((m - mu[None, :]) ** 2) / (4 * pooled))
        sums[start:start + chunk] = bc.sum(dim=1) - 1.0  # minus the segment's overlap with itself
    return sums


def scores(
    mu: torch.Tensor,
    sigma: torch.Tensor,
    groups: Sequence[int] | torch.Tensor | None = None,
    *,
    method: Method = "pearson",
    normalise: Normalise = "minmax",
    grid_points: int = 256,
) -> torch.Tensor:
    """GDS score in [0, 1] per segment from the fitted Gaussians, computed within each group."""
    if method not in ("pearson", "bhattacharyya"):
        raise ConfigError(f"GDS method {method!r}: use 'pearson' or 'bhattacharyya'.")
    if normalise not in ("minmax", "mean"):
        raise ConfigError(f"GDS normalise {normalise!r}: use 'minmax' or 'mean'.")
    mu, sigma = mu.to(torch.float64).flatten(), sigma.to(torch.float64).flatten()
    group = torch.zeros_like(mu, dtype=torch.long) if groups is None else torch.as_tensor(groups, device=mu.device).long().flatten()
    out = torch.zeros_like(mu)
    for g in torch.unique(group):
        idx = torch.nonzero(group == g).flatten()
        n = idx.numel()
        if n < 2:
            out[idx] = 1.0  # nothing to compare with: keep it
            continue
        sums = _pearson_sums(mu[idx], sigma[idx], grid_points) if method == "pearson" else _bhattacharyya_sums(mu[idx], sigma[idx])
        if normalise == "mean":
            out[idx] = (sums / (n - 1)).clamp(0.0, 1.0)
        else:
            span = sums.max() - sums.min()
            out[idx] = (sums - sums.min()) / span if span > 0 else torch.ones_like(sums)
    return out


def select(
    mu: torch.Tensor,
    sigma: torch.Tensor,
    threshold: float,
    groups: Sequence[int] | torch.Tensor | None = None,
    *,
    method: Method = "pearson",
    normalise: Normalise = "minmax",
    grid_points: int = 256,
) -> Selection:
    """Keep segments whose GDS score is above ``threshold`` (in [0, 1))."""
    if not 0.0 <= threshold < 1.0:
        raise ConfigError(f"GDS threshold {threshold}: use a score in [0, 1), e.g. 0.2.")
    s = scores(mu, sigma, groups, method=method, normalise=normalise, grid_points=grid_points)
    return Selection(keep=s > threshold, scores=s.float(), mu=mu.float(), sigma=sigma.float(),
                     threshold=float(threshold), method=method, normalise=normalise)


def gaussian_data_selection(segments: torch.Tensor, threshold: float, groups=None, **options) -> Selection:
    """GDS over segments ``(N, bands, frames)``: fit the Gaussians, score, keep above ``threshold``."""
    mu, sigma = gaussian_stats(segments)
    return select(mu, sigma, threshold, groups, **options)
