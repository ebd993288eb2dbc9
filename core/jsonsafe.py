"""One conversion of serwb's values to JSON, used by checkpoint cards, model configs, reports and exports.

``plain`` turns containers into what JSON holds (mappings to dicts with text keys, tuples to lists) and NumPy
values into Python numbers; ``default`` is the ``json.dumps(..., default=default)`` hook for whatever is left,
so a report never fails on a stray ``np.float32`` or ``Path``.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import numpy as np


def plain(value: Any) -> Any:
    """``value`` with mappings as dicts (text keys), lists/tuples as lists and NumPy scalars/arrays as numbers/lists;
    other leaves unchanged."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return value


def default(value: Any) -> Any:
    """``json.dumps`` hook: NumPy scalars and arrays as numbers and lists, anything else as its text."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return str(value)


def dumps(value: Any, indent: int | None = 2) -> str:
    """``value`` as JSON text (``plain`` first, then ``default`` for leaves JSON does not know)."""
    return json.dumps(plain(value), indent=indent, default=default)
