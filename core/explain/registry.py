"""One registry of attribution methods, shaped like ``core.models.registry``.

A method is a function ``explain(subject, target, settings, progress=None) -> {name: AttributionMap}`` registered
once with ``@register_method(MethodSpec(...))``. Its settings are a frozen dataclass whose fields are declared with
``setting(default, label=..., help=..., low=..., high=..., choices=...)``: the registry checks values against those
ranges, and the CLI, the cache keys and the workbench's settings widgets all read the same declaration. ``needs``
says what the model must offer (a Grad-CAM layer, an attention output), ``cost`` how many forward (and backward)
passes one call makes, so a page can say what is slow before it starts.

Adding a method is one module that registers itself, listed in ``core.explain.methods``, plus its tests.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, Callable, Mapping, Sequence

from core.errors import ConfigError

#: What a method may need from a model, and how a model shows it has it.
NEEDS: dict[str, Callable[[Any], bool]] = {
    "cam_layers": lambda model: bool(model.spec.cam_layers),
    "attention": lambda model: bool(getattr(model.spec, "has_attention", False)),
}
NEED_MESSAGES = {
    "cam_layers": "has no convolutional layer for a class activation map",
    "attention": "has no attention layer (attention maps need cnn-atn or lstm-atn)",
}


def setting(default: Any, *, label: str, help: str = "", low: float | None = None, high: float | None = None,
            step: float | None = None, choices: Sequence[str] | None = None, widget: str | None = None,
            shown: bool = True):
    """A settings field with what a user needs to set it: a label, help text, a range or a list of choices.

    ``widget`` names a control the workbench draws itself (e.g. "layer": the model's own layers); ``shown=False``
    keeps an engine knob (batch sizes) out of the settings widgets.
    """
    meta = {"label": label, "help": help, "low": low, "high": high, "step": step,
            "choices": tuple(choices) if choices is not None else None, "widget": widget, "shown": shown}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class SettingInfo:
    """One declared setting, as the CLI and the widgets read it."""

    name: str
    default: Any
    label: str
    help: str
    low: float | None
    high: float | None
    step: float | None
    choices: tuple[str, ...] | None
    widget: str | None
    shown: bool


@dataclass(frozen=True)
class MethodSpec:
    """What the rest of serwb needs to know about an attribution method without running it."""

    name: str  # registry key, also the key of its main map
    title: str  # what a person reads: "Grad-CAM"
    settings: type  # frozen dataclass of ``setting(...)`` fields
    description: str = ""
    reference: str = ""  # the paper or library it follows
    needs: tuple[str, ...] = ()  # keys of NEEDS
    cost: Callable[[Any, Any], int] | None = None  # (subject, settings) -> forward + backward passes
    default: bool = False  # part of an analysis unless the caller chooses methods
    progress: bool = False  # reports progress while it runs

    def __post_init__(self):
        unknown = set(self.needs) - set(NEEDS)
        if unknown:
            raise ValueError(f"method {self.name!r} needs unknown capabilities {sorted(unknown)}; known: {sorted(NEEDS)}")

    def setting_infos(self) -> tuple[SettingInfo, ...]:
        infos = []
        for f in fields(self.settings):
            meta = dict(f.metadata) or {"label": f.name, "help": "", "low": None, "high": None, "step": None,
                                        "choices": None, "widget": None, "shown": False}
            default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
            infos.append(SettingInfo(f.name, default, **meta))
        return tuple(infos)


@dataclass(frozen=True)
class _Entry:
    spec: MethodSpec
    explain: Callable[..., dict]


_REGISTRY: dict[str, _Entry] = {}


def register_method(spec: MethodSpec):
    """Decorator registering ``explain(subject, target, settings, progress=None) -> {name: AttributionMap}``."""

    def decorate(explain):
        if spec.name in _REGISTRY:
            raise ValueError(f"method {spec.name!r} is registered twice")
        _REGISTRY[spec.name] = _Entry(spec, explain)
        explain.spec = spec
        return explain

    return decorate


def available() -> tuple[str, ...]:
    """Every registered method, in registration order (the order pages and tables show them)."""
    return tuple(_REGISTRY)


def default_methods() -> tuple[str, ...]:
    return tuple(name for name, e in _REGISTRY.items() if e.spec.default)


def method_spec(name: str) -> MethodSpec:
    return _entry(name).spec


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"Unknown explanation method '{name}'. Choose from: {', '.join(_REGISTRY)}.") from None


def unmet_need(name: str, model) -> str | None:
    """Why ``model`` cannot be explained by method ``name`` (a sentence), or None when it can."""
    spec = method_spec(name)
    for need in spec.needs:
        if not NEEDS[need](model):
            return f"{spec.title}: model '{getattr(model, 'model_name', type(model).__name__)}' {NEED_MESSAGES[need]}."
    return None


def defaults_for(model) -> tuple[str, ...]:
    """The default methods this model can be explained by (what an analysis runs unless told otherwise)."""
    return tuple(name for name in default_methods() if unmet_need(name, model) is None)


def applicable(model) -> tuple[str, ...]:
    """The registered methods this model offers what they need for."""
    return tuple(name for name in _REGISTRY if unmet_need(name, model) is None)


def settings_for(name: str, value: Any = None, **changes) -> Any:
    """Method ``name``'s settings: ``value`` (or the defaults) with ``changes``, checked against the declaration."""
    spec = method_spec(name)
    if value is None:
        value = spec.settings()
    elif not isinstance(value, spec.settings):
        raise ConfigError(f"{spec.title} takes {spec.settings.__name__}, not {type(value).__name__}.")
    unknown = set(changes) - {f.name for f in fields(spec.settings)}
    if unknown:
        raise ConfigError(f"{spec.title} has no setting(s) {sorted(unknown)}; it has "
                          f"{', '.join(f.name for f in fields(spec.settings))}.")
    value = replace(value, **changes) if changes else value
    check(spec, value)
    return value


def check(spec: MethodSpec, value: Any) -> None:
    """Raise ``ConfigError`` naming the setting when a value is outside its declared range or choices."""
    for info in spec.setting_infos():
        v = getattr(value, info.name)
        if v is None:
            continue
        if info.choices is not None and v not in info.choices:
            raise ConfigError(f"{spec.title} {info.label.lower()}: {v!r} is not one of {', '.join(info.choices)}.")
        if info.low is not None and v < info.low or info.high is not None and v > info.high:
            raise ConfigError(f"{spec.title} {info.label.lower()}: {v} is outside {info.low}..{info.high}.")


def cost(name: str, subject, settings: Any = None) -> int:
    """Forward + backward passes one call of method ``name`` makes on ``subject``."""
    spec = method_spec(name)
    return spec.cost(subject, settings or spec.settings()) if spec.cost else 1


def explain(name: str, subject, target: int, settings: Any = None,
            progress: Callable[[float], None] | None = None) -> dict:
    """Run method ``name``: ``{map name: AttributionMap}`` (its own map under ``name``, plus any per-branch maps).

    Raises ``ConfigError`` with a sentence a user can act on when the model lacks what the method needs.
    """
    entry = _entry(name)
    problem = unmet_need(name, subject.model)
    if problem:
        raise ConfigError(problem)
    return entry.explain(subject, int(target), settings_for(name, settings), progress)


def parse_settings(name: str, pairs: Mapping[str, str], base: Any = None) -> Any:
    """CLI ``key=value`` strings applied to ``base`` (default: the defaults) of method ``name``'s settings, each
    value read as its field's type."""
    spec = method_spec(name)
    types = {info.name: type(info.default) for info in spec.setting_infos()}
    changes = {}
    for key, text in pairs.items():
        if key not in types:
            raise ConfigError(f"{spec.title} has no setting '{key}'; it has {', '.join(types)}.")
        kind = types[key]
        if kind is type(None):  # optional settings without a default value: a number when it reads as one
            kind = int if text.lstrip("-").isdigit() else float if _is_float(text) else str
        try:
            changes[key] = (None if text.lower() == "none" else kind(text)) if kind is not bool \
                else text.lower() in ("1", "true", "yes", "on")
        except ValueError:
            raise ConfigError(f"{spec.title} {key}={text!r}: expected a {kind.__name__}.") from None
    return settings_for(name, base, **changes)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
