"""When a sampled surrogate (LIME, KernelSHAP) has seen enough samples to stop drawing more.

Samples are scored in chunks. From ``min_samples`` (2 per cell: a regression with about as many unknowns as
samples fits anything) on, once ``check_every`` (a quarter sample per cell, at least 16) more have been scored
since the last check, the surrogate is refitted on every sample so far, giving coefficients ``w_k``. Sampling has
converged when the relative change between consecutive refits, ``||w_k - w_{k-1}||_2 / max(||w_k||_2, eps)``, is
below ``tolerance`` on two consecutive checks (one calm step can be luck). A refit is a small linear regression
(milliseconds), a forward tens of milliseconds, so checking costs little.

The default tolerance, 0.25, is what 96 cells (a 3 s clip in 250 ms x 8-band cells) reach within 500 samples:
there the cells off the model's focus are still mostly sampling noise (two full runs with different seeds rank
them with a Spearman correlation of 0.1-0.7), so a tighter tolerance would not stop there at all, while the
strongest cells are settled well before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

TOLERANCE = 0.25
CALM_CHECKS = 2  # consecutive checks below the tolerance
STOP_HELP = ("Stop drawing samples once more of them barely change the cells' values: from 2 samples per cell on, "
             "the surrogate is refitted every quarter sample per cell, and sampling stops when its values move by "
             "less than the tolerance on two refits in a row. Off: always use every sample.")
TOLERANCE_HELP = ("Stop when the cells' values change by less than this fraction between two refits, twice in a row "
                  "(L2 norm of the change over the norm of the values).")


def relative_change(new: np.ndarray, old: np.ndarray, eps: float = 1e-12) -> float:
    """``||new - old||_2 / max(||new||_2, eps)``."""
    new, old = np.asarray(new, dtype=np.float64), np.asarray(old, dtype=np.float64)
    return float(np.linalg.norm(new - old) / max(np.linalg.norm(new), eps))


@dataclass
class Convergence:
    """The stopping rule of one run: call ``converged`` after each scored chunk; it refits only when a check is due."""

    tolerance: float = TOLERANCE
    min_samples: int = 0
    check_every: int = 1
    next_check: int = field(init=False)
    previous: np.ndarray | None = field(default=None, init=False)
    calm: int = field(default=0, init=False)  # consecutive checks below the tolerance so far

    def __post_init__(self):
        self.next_check = self.min_samples

    @classmethod
    def for_cells(cls, n_cells: int, tolerance: float = TOLERANCE) -> "Convergence":
        """The rule for a surrogate over ``n_cells`` cells: first check at 2 samples per cell, then every quarter
        sample per cell (at least 16, a CPU batch)."""
        return cls(tolerance, min_samples=2 * n_cells, check_every=max(16, n_cells // 4))

    @property
    def fewest(self) -> int:
        """The fewest samples after which sampling can stop: ``CALM_CHECKS`` checks after the first."""
        return self.min_samples + CALM_CHECKS * self.check_every

    def converged(self, n: int, refit: Callable[[], np.ndarray]) -> bool:
        """Whether sampling may stop after ``n`` scored samples; ``refit()`` gives the coefficients fitted on them."""
        if n < self.next_check:
            return False
        self.next_check = n + self.check_every
        coefficients = np.asarray(refit(), dtype=np.float64)
        if self.previous is not None:
            self.calm = self.calm + 1 if relative_change(coefficients, self.previous) < self.tolerance else 0
        self.previous = coefficients
        return self.calm >= CALM_CHECKS
