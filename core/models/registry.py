"""One registry of model builders, timm ``_registry.py`` / ``_factory.py`` style (the model contract is in
``core.models.base``, the spec in ``core.models.spec``).

A builder is a function ``builder(num_classes, *, key=default, ...) -> SerModel`` registered with
``@register_model(ModelSpec(...), demo={...})``. Its keyword-only parameters *are* the model's
settings: ``build`` rejects any other key, fills in the defaults and stores the complete set on
``model.config`` so that ``build(model.model_name, model.num_classes, **model.config)`` rebuilds
the same architecture (the checkpoint card keeps exactly that dict). Names are looked up in a dict,
never evaluated.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from torch import nn

from core.errors import ConfigError
from core.jsonsafe import plain
from core.models.spec import ModelSpec

if TYPE_CHECKING:
    from core.models.base import SerModel


@dataclass(frozen=True)
class _Entry:
    spec: ModelSpec
    builder: Callable[..., "SerModel"]
    defaults: dict[str, Any]
    demo: dict[str, Any]


_REGISTRY: dict[str, _Entry] = {}


def register_model(spec: ModelSpec, demo: dict[str, Any] | None = None):
    """Decorator registering ``builder(num_classes, *, settings...)`` under ``spec.name``.

    ``demo`` is the small CPU-friendly setting used for the shipped demo models and tests.
    """

    def decorate(builder):
        if spec.name in _REGISTRY:
            raise ValueError(f"model {spec.name!r} is registered twice")
        params = list(inspect.signature(builder).parameters.values())
        if not params or params[0].name != "num_classes":
            raise TypeError(f"builder of {spec.name!r} must take num_classes first")
        defaults = {}
        for p in params[1:]:
            if p.kind is not inspect.Parameter.KEYWORD_ONLY or p.default is inspect.Parameter.empty:
                raise TypeError(f"builder of {spec.name!r}: setting {p.name!r} must be keyword-only with a default")
            defaults[p.name] = p.default
        unknown = set(demo or {}) - set(defaults)
        if unknown:
            raise TypeError(f"demo settings {sorted(unknown)} of {spec.name!r} are not settings of its builder")
        _REGISTRY[spec.name] = _Entry(spec, builder, defaults, dict(demo or {}))
        return builder

    return decorate


def available() -> list[str]:
    """Names of every registered model, sorted."""
    return sorted(_REGISTRY)


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(f"Unknown model '{name}'. Known models: {', '.join(available())}.") from None


def spec(name: str) -> ModelSpec:
    """The registered ``ModelSpec`` of ``name`` (with the default settings' cam layers and taps)."""
    return _entry(name).spec


def default_config(name: str) -> dict[str, Any]:
    """Every setting of ``name`` with its default (the paper's configuration), JSON-able."""
    return plain(_entry(name).defaults)


def demo_config(name: str) -> dict[str, Any]:
    """The small CPU-friendly settings of ``name`` used for demo models and tests (others default)."""
    return plain(_entry(name).demo)


def build(name: str, num_classes: int, **cfg: Any) -> "SerModel":
    """Build model ``name`` with ``num_classes`` outputs; ``cfg`` overrides its default settings.

    Unknown names, unknown setting keys and invalid values raise ``ConfigError``.
    """
    entry = _entry(name)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"num_classes must be a positive integer (one per emotion label), not {num_classes!r}.")
    unknown = sorted(set(cfg) - set(entry.defaults))
    if unknown:
        known = ", ".join(entry.defaults) or "none"
        raise ConfigError(f"Unknown setting(s) {unknown} for model '{name}'. Its settings are: {known}.")
    full = {**entry.defaults, **cfg}
    try:
        model = entry.builder(num_classes, **full)
    except ConfigError as e:
        raise ConfigError(f"Model '{name}': {e}") from None
    except (TypeError, ValueError) as e:  # a value of the wrong type slipped past the checks
        raise ConfigError(f"Model '{name}' cannot be built with settings {cfg}: {e}") from None
    model.spec = model.adapt_spec(entry.spec)
    model.config = plain(full)
    model.num_classes = num_classes
    return model


def num_parameters(model: nn.Module, trainable: bool = True) -> int:
    """Parameter count (trainable only by default, as papers report it)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable)


__all__ = ["register_model", "build", "available", "spec", "default_config", "demo_config", "num_parameters"]
