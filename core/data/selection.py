"""Gaussian data selection (GDS) of spectrogram segments, S3 (Kim & Kwak, Appl. Sci. 2024, Algorithm 1).

S3 cuts each log-mel spectrogram into overlapping 0.96 s segments, describes each segment by
a Gaussian fitted to its values, scores how typical a segment is by the *correlation between
the segments' Gaussians, summed and normalised*, and trains only on segments whose score is
above a threshold. Two scopes:

``scope="item"`` (the paper's, what the S3 preset uses): Algorithm 1 line by line, within one
data item (clip) ``S_i = {S_i1, ..., S_iD}``:

1. ``mu_ij = mean(S_ij)``, ``sigma_ij = std(S_ij)`` over all the segment's log-mel values
   (``std`` with N - 1, MATLAB's, whose notation the pseudocode and Tables 2-4 use).
2. ``G_ij = Gaussian(S_ij; mu_ij, sigma_ij)``: the segment's own values under its own fitted
   normal pdf, a ``bands x frames`` map (``torch.distributions.Normal``).
3. ``C_i = Sum(CorrelationCoefficient(G_i1, ..., G_iD), Dim=1)``: the ``D x D`` Pearson matrix of
   the flattened maps (``torch.corrcoef``), summed down its columns: one sum per segment.
4. ``Score_i = normalize(C_i)``: MATLAB's ``normalize``, a z-score over the clip's D sums
   (``scipy.stats.zscore``, ``ddof=1``); ``normalise="minmax"`` maps them to [0, 1] instead.
5. Keep ``S_ij`` with ``Score_ij > T``. A clip always keeps at least one segment: when none
   scores above ``T`` it keeps its highest-scoring one (ties: the first).

A segment whose values are all equal (digital silence: ``sigma = 0``) has no pdf; its map is
taken as constant, its correlations (undefined, NaN) as 0, so it scores lowest. A clip whose
sums do not differ (one segment, or all equally typical) scores 0 everywhere (z-score; 1 with
min-max). A z-score ranks within the clip whatever the spread: with T = -1 a clip of two segments
(scores +-0.71) loses none, and a clip of many equally good ones still loses those more than one
standard deviation below its mean (about 16 % of normally spread scores; the paper drops 15 %).
Test clips are selected the same way (``core.training.loop.predict_selected``).

``scope="emotion"`` (our earlier reading, kept beside it; needs labels, so training only):

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

import numpy as np
import torch

from core.errors import ConfigError

Method = Literal["pearson", "bhattacharyya"]
Normalise = Literal["minmax", "mean"]


class _Counts:
    """Segment counts of a selection whose ``keep`` is a boolean mask of every segment."""

    keep: torch.Tensor

    @property
    def total(self) -> int:
        return int(self.keep.numel())

    @property
    def kept(self) -> int:
        return int(self.keep.sum())

    @property
    def dropped(self) -> int:
        return self.total - self.kept


@dataclass(frozen=True)
class Selection(_Counts):
    """Which segments GDS keeps, with their scores and fitted Gaussians (all ``(N,)`` tensors)."""

    keep: torch.Tensor  # bool
    scores: torch.Tensor  # in [0, 1]
    mu: torch.Tensor
    sigma: torch.Tensor
    threshold: float
    method: str
    normalise: str

    def report(self) -> dict:
        """JSON-able summary for a model card."""
        return {"scope": "emotion", "threshold": self.threshold, "method": self.method, "normalise": self.normalise,
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


# ----------------------------------------------------------------------------- scope="item": the paper's Algorithm 1

SCOPES = ("item", "emotion")  # within each clip (S3's Algorithm 1), or within each emotion label (ours)
ITEM_NORMALISE = ("zscore", "minmax")


def check_threshold(threshold: float, normalise: str = "zscore") -> float:
    """``threshold`` as a float, or a ``ConfigError``: any finite z-score, or a min-max score in [0, 1)."""
    if normalise not in ITEM_NORMALISE:
        raise ConfigError(f"GDS normalise {normalise!r}: use 'zscore' (MATLAB's normalize, the paper's) or 'minmax'.")
    t = float(threshold)
    if normalise == "zscore" and not math.isfinite(t):
        raise ConfigError(f"GDS threshold {threshold}: use a finite z-score, e.g. -1 (one standard deviation below "
                          "the clip's mean score).")
    if normalise == "minmax" and not 0.0 <= t < 1.0:
        raise ConfigError(f"GDS threshold {threshold}: min-max scores lie in [0, 1]; use e.g. 0.2.")
    return t


def item_gaussians(segments: torch.Tensor) -> torch.Tensor:
    """``G_ij`` (Algorithm 1, line 5) of one clip's segments ``(D, ...)``: each segment's values under the normal
    pdf fitted to them, flattened to ``(D, values)``, float64; a constant segment (``sigma = 0``) gives zeros."""
    flat = segments.reshape(segments.shape[0], -1).to(torch.float64)
    sigma, mu = torch.std_mean(flat, dim=1, keepdim=True)  # std with N - 1, as MATLAB's std
    fitted = sigma > 0
    pdf = torch.distributions.Normal(mu, torch.where(fitted, sigma, torch.ones_like(sigma))).log_prob(flat).exp()
    return torch.where(fitted, pdf, torch.zeros_like(pdf))


def item_sums(segments: torch.Tensor) -> torch.Tensor:
    """``C_i`` (Algorithm 1, line 6) of one clip's segments ``(D, ...)``: column sums of the ``D x D`` correlation
    matrix of the ``G_ij``; undefined correlations (a constant map) count 0, each segment's own 1."""
    if segments.shape[0] == 1:
        return torch.ones(1, dtype=torch.float64, device=segments.device)
    corr = torch.corrcoef(item_gaussians(segments)).nan_to_num(0.0)
    corr.fill_diagonal_(1.0)
    return corr.sum(dim=0)


def normalise_items(sums: torch.Tensor, normalise: str = "zscore") -> torch.Tensor:
    """``Score_i = normalize(C_i)`` for each row (clip) of ``sums`` ``(N, D)``, on the CPU: z-score with N - 1
    (MATLAB's ``normalize``) or min-max to [0, 1]; a row whose sums do not differ scores 0 (z) or 1 (min-max)."""
    from scipy.stats import zscore

    check_threshold(0.0, normalise)
    c = sums.detach().to("cpu", torch.float64).numpy()
    if c.size == 0:
        return torch.from_numpy(c.copy())
    spread = c.max(axis=1, keepdims=True) - c.min(axis=1, keepdims=True)
    flat = spread <= 1e-12 * np.maximum(1.0, np.abs(c).max(axis=1, keepdims=True))
    if normalise == "zscore":
        out, spread_out = np.zeros_like(c), ~flat[:, 0]
        out[spread_out] = zscore(c[spread_out], axis=1, ddof=1)
    else:
        out = np.where(flat, 1.0, (c - c.min(axis=1, keepdims=True)) / np.where(flat, 1.0, spread))
    return torch.from_numpy(out)


@dataclass(frozen=True)
class ItemSelection(_Counts):
    """Which segments of each clip the paper's GDS keeps: ``keep`` and ``scores`` are ``(clips, D)``."""

    keep: torch.Tensor  # bool
    scores: torch.Tensor  # float64
    threshold: float
    normalise: str
    rescued: torch.Tensor  # (clips,) bool: no segment scored above the threshold; the best one was kept

    def kept_per_clip(self) -> list[int]:
        return self.keep.sum(dim=1).tolist()

    def report(self, files: Sequence[str] | None = None) -> dict:
        """JSON-able summary: settings, totals and, per clip (named by ``files``), its kept and total segments."""
        return {"scope": "item", "threshold": self.threshold, "normalise": self.normalise, "segments": self.total,
                "kept": self.kept, "dropped": self.dropped, "clips_rescued": int(self.rescued.sum()),
                "per_file": per_file(files, self.kept_per_clip(), [self.keep.shape[1]] * self.keep.shape[0])}


def per_file(files: Sequence[str] | None, kept: Sequence[int], segments: Sequence[int]) -> list[dict]:
    """``[{"file", "segments", "kept"}, ...]`` per clip (``file``: the clip's index when no names are given)."""
    names = list(files) if files is not None else [str(i) for i in range(len(kept))]
    if len(names) != len(kept):
        raise ValueError(f"{len(names)} file names for {len(kept)} clips")
    return [{"file": n, "segments": int(s), "kept": int(k)} for n, k, s in zip(names, kept, segments)]


def select_items(scores: torch.Tensor, threshold: float, normalise: str = "zscore") -> ItemSelection:
    """Keep ``Score_ij > threshold`` (Algorithm 1, line 8) in each row of ``scores`` ``(clips, D)``, and each
    clip's best segment where none is above it."""
    t = check_threshold(threshold, normalise)
    scores = scores.to(torch.float64)
    keep = scores > t
    rescued = ~keep.any(dim=1)
    keep[rescued, scores[rescued].argmax(dim=1)] = True
    return ItemSelection(keep=keep, scores=scores, threshold=t, normalise=normalise, rescued=rescued)


def item_scores(segments: torch.Tensor, normalise: str = "zscore") -> torch.Tensor:
    """``Score`` ``(clips, D)`` (CPU, float64) of segments ``(clips, D, bands, frames)``, each clip on its own."""
    sums = torch.stack([item_sums(clip) for clip in segments]) if len(segments) else segments.new_zeros(0, 0)
    return normalise_items(sums.to(torch.float64), normalise)


def gaussian_item_selection(segments: torch.Tensor, threshold: float, normalise: str = "zscore") -> ItemSelection:
    """The paper's GDS over segments ``(clips, D, bands, frames)``: score within each clip, keep above ``threshold``."""
    check_threshold(threshold, normalise)
    return select_items(item_scores(segments, normalise), threshold, normalise)
