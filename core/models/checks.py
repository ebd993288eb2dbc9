"""Value checks for model settings: each raises ``ConfigError`` naming the setting, so a bad
``--model-cfg`` value reads as the user's mistake, not as a PyTorch traceback."""

from __future__ import annotations

import math
from typing import Any

from core.errors import ConfigError


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"setting '{name}' must be an integer >= {minimum}, not {value!r}.")
    return value


def check_float(name: str, value: Any, low: float, high: float, *, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"setting '{name}' must be a number, not {value!r}.")
    if value > high or value < low or (low_open and value == low):
        bracket = "(" if low_open else "["
        raise ConfigError(f"setting '{name}' must lie in {bracket}{low}, {high}], not {value!r}.")
    return float(value)


def check_ints(name: str, value: Any, minimum: int = 1, allow_empty: bool = False) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or (not value and not allow_empty):
        kind = "list" if allow_empty else "non-empty list"
        raise ConfigError(f"setting '{name}' must be a {kind} of integers, not {value!r}.")
    return tuple(check_int(f"{name}[{i}]", v, minimum) for i, v in enumerate(value))


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"setting '{name}' must be true or false, not {value!r}.")
    return value


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"setting '{name}' must be one of {', '.join(choices)}, not {value!r}.")
    return value
