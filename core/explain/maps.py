"""Attribution maps as data: raw values on the model's (mel band x frame) grid, plus provenance.

Normalising happens only when drawing (``normalise``), so several maps can share one colour
scale and the metrics in ``core.explain.evaluate`` see the raw numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
from scipy.stats import rankdata


@dataclass(frozen=True, eq=False)
class AttributionMap:
    """One explanation of one clip for one target class.

    ``values`` is ``(bands, frames)``; ``frame_times`` (seconds) and ``band_hz`` (centre
    frequency of each mel band, or MFCC index for MFCC models) label its axes.
    """

    method: str
    values: np.ndarray
    target: int
    target_label: str
    frame_times: np.ndarray
    band_hz: np.ndarray
    settings: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def __post_init__(self):
        if self.values.shape != (len(self.band_hz), len(self.frame_times)):
            raise ValueError(
                f"{self.method} map of shape {self.values.shape} does not match its axes "
                f"({len(self.band_hz)} bands x {len(self.frame_times)} frames)"
            )

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape

    def time_profile(self) -> np.ndarray:
        """Attribution summed over bands: one value per frame."""
        return self.values.sum(axis=0)

    def frequency_profile(self) -> np.ndarray:
        """Attribution summed over frames: one value per mel band (see ``band_hz``)."""
        return self.values.sum(axis=1)

    def to_npz_dict(self) -> dict[str, np.ndarray]:
        prefix = self.method
        return {
            f"{prefix}_values": self.values,
            f"{prefix}_frame_times": self.frame_times,
            f"{prefix}_band_hz": self.band_hz,
        }


def normalise(values: np.ndarray, scale: float | None = None, *, signed: bool | None = None) -> np.ndarray:
    """Map values to [0, 1] (unsigned) or [-1, 1] (signed) for drawing.

    ``scale`` shares one colour scale between maps (e.g. the max |value| over all of them);
    by default each map uses its own. ``signed`` defaults to whether any value is negative.
    """
    values = np.asarray(values, dtype=np.float64)
    signed = bool((values < 0).any()) if signed is None else signed
    if scale is None:
        scale = float(np.abs(values).max()) if signed else float(values.max() - min(values.min(), 0.0))
    if scale <= 0 or not np.isfinite(scale):
        return np.zeros_like(values)
    return np.clip(values / scale, -1.0 if signed else 0.0, 1.0)


def rank_normalise(values: np.ndarray, *, signed: bool | None = None) -> np.ndarray:
    """Each cell's rank by |value| within its map, in (0, 1] (1: the map's strongest cell), keeping the sign of
    signed maps; zeros stay 0. Maps in different units (a logit drop, a regression weight, a gradient) compare
    on this scale: "the top 10 % of each map" means the same share everywhere."""
    values = np.asarray(values, dtype=np.float64)
    signed = bool((values < 0).any()) if signed is None else signed
    magnitude = np.abs(values) if signed else np.clip(values, 0.0, None)
    ranks = rankdata(magnitude, method="average").reshape(values.shape) / magnitude.size
    ranks[magnitude == 0] = 0.0
    return np.sign(values) * ranks if signed else ranks


def shared_scale(maps: list[AttributionMap]) -> float:
    """One scale for several maps in the same unit (e.g. the branch maps of one Grad-CAM): the largest absolute
    value among them. Maps of different methods are in different units: compare them with ``rank_normalise``."""
    return max((float(np.abs(m.values).max()) for m in maps), default=0.0)


@dataclass(frozen=True)
class Grid:
    """An audio-native segmentation: cells of ``band_step`` mel bands x ``frame_step`` frames.

    LIME's interpretable features and the cell-wise deletion metric use it; superpixels
    would cut across time and frequency in ways that mean nothing for sound.
    """

    bands: int
    frames: int
    band_step: int
    frame_step: int

    @property
    def n_band_cells(self) -> int:
        return -(-self.bands // self.band_step)

    @property
    def n_frame_cells(self) -> int:
        return -(-self.frames // self.frame_step)

    @property
    def n_cells(self) -> int:
        return self.n_band_cells * self.n_frame_cells

    def labels(self) -> np.ndarray:
        """``(bands, frames)`` integer cell index of every grid point (row-major over cells)."""
        rows = np.arange(self.bands) // self.band_step
        cols = np.arange(self.frames) // self.frame_step
        return rows[:, None] * self.n_frame_cells + cols[None, :]

    def expand(self, cell_values: np.ndarray) -> np.ndarray:
        """Per-cell values ``(n_cells,)`` -> a ``(bands, frames)`` map."""
        return np.asarray(cell_values)[self.labels()]
