"""One registry of model builders (timm ``_registry.py`` / ``_factory.py`` style) and the shared model API.

A builder is a function ``builder(num_classes, *, key=default, ...) -> SerModel`` registered with
``@register_model(ModelSpec(...), demo={...})``. Its keyword-only parameters *are* the model's
settings: ``build`` rejects any other key, fills in the defaults and stores the complete set on
``model.config`` so that ``build(model.model_name, model.num_classes, **model.config)`` rebuilds
the same architecture (the checkpoint card keeps exactly that dict). Names are looked up in a dict,
never evaluated.

The model contract (every registered model):

* ``forward(x)``: ``x`` is the front end's output ``(B, bands, frames)`` (64 log-mel bands or
  40 MFCCs); returns logits ``(B, num_classes)``. Channel dims, transposes, patches, segments
  and padding all happen inside, so every attribution method works on the same bands x frames grid.
* ``forward_features(x)``: the last feature map(s) before pooling; ``forward_head(f,
  pre_logits=False)``: logits, or the penultimate embedding ``(B, D)``; ``embed(x)``.
* ``cam_to_grid(cam, n_frames)``: a channel-reduced map of the ``spec.cam_layers`` output
  (e.g. a Grad-CAM) laid back onto the ``(B, bands, n_frames)`` grid of the input.
* No state is written to the module during ``forward``: one cached model serves many threads.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import CheckpointError, ConfigError
from core.features import n_patches, patches

INPUT_KINDS = ("log-mel", "patch", "mfcc-seq", "volume")


@dataclass(frozen=True)
class ModelSpec:
    """What the rest of serwb needs to know about a model without building it."""

    name: str
    paper: str  # "S0".."S3" (DESIGN.md's table of systems)
    input_kind: str  # one of INPUT_KINDS
    feature_preset: str  # default core.features preset name
    cam_layers: tuple[str, ...] = ()  # dotted names for model.get_submodule: Grad-CAM hooks their output
    eca_taps: tuple[str, ...] = ()  # dotted names of ECA modules; hook "<tap>.gate" for the channel weights
    has_attention: bool = False  # the model has attention_weights(x) -> (B, steps)
    description: str = ""
    min_frames: int = 1  # shortest input (frames) forward accepts; shorter clips are padded inside

    def __post_init__(self):
        if self.input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind must be one of {INPUT_KINDS}, not {self.input_kind!r}")


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
    return _jsonable(_entry(name).defaults)


def demo_config(name: str) -> dict[str, Any]:
    """The small CPU-friendly settings of ``name`` used for demo models and tests (others default)."""
    return _jsonable(_entry(name).demo)


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
    model.config = _jsonable(full)
    model.num_classes = num_classes
    model.model_name = name
    return model


def num_parameters(model: nn.Module, trainable: bool = True) -> int:
    """Parameter count (trainable only by default, as papers report it)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


# ------------------------------------------------------------------------ the shared model API


class SerModel(nn.Module):
    """Base of every registered model: ``forward`` = ``forward_head(forward_features(x))``.

    ``build`` sets ``spec``, ``config``, ``num_classes`` and ``model_name`` on the instance.
    """

    spec: ModelSpec
    config: dict
    num_classes: int
    model_name: str
    bands: int | None = None  # rows of the input grid the model expects (None: any)

    def forward_features(self, x: torch.Tensor):  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_head(self, features, pre_logits: bool = False) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate embedding ``(B, D)`` (t-SNE reads this)."""
        return self.forward_head(self.forward_features(x), pre_logits=True)

    def adapt_spec(self, spec: ModelSpec) -> ModelSpec:
        """The spec of this instance (settings may change e.g. the ECA taps)."""
        return spec

    def cam_to_grid(self, cam: torch.Tensor, n_frames: int) -> torch.Tensor:
        """Lay a channel-reduced cam-layer map back onto the ``(B, bands, n_frames)`` input grid."""
        raise NotImplementedError(f"{type(self).__name__} has no Grad-CAM layer")

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ConfigError(f"Models take features of shape (batch, bands, frames); got {shape}.")
        if self.bands is not None and x.shape[1] != self.bands:
            raise ConfigError(
                f"This model expects {self.bands} bands per frame but the features have {x.shape[1]}; "
                "use the model's feature preset (spec.feature_preset)."
            )
        if x.shape[-1] < 1:
            raise ConfigError("The features have no frames; the clip is too short.")
        return x


class ClassifierHead(nn.Module):
    """``[Linear(in, hidden) -> ReLU] -> Dropout -> Linear(., classes)``; ``hidden=0`` skips the first.

    ``forward(x, pre_logits=True)`` returns the vector the last Linear sees (the embedding).
    """

    def __init__(self, in_features: int, num_classes: int, hidden: int = 0, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden) if hidden else None
        self.act = nn.ReLU() if hidden else None
        self.drop = nn.Dropout(dropout)
        self.num_features = hidden or in_features
        self.fc = nn.Linear(self.num_features, num_classes)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.fc1 is not None:
            x = self.act(self.fc1(x))
        x = self.drop(x)
        return x if pre_logits else self.fc(x)


# ------------------------------------------------------------------------ shared helpers


def pad_frames(x: torch.Tensor, min_frames: int) -> torch.Tensor:
    """Pad ``(..., bands, T)`` at the tail to ``min_frames`` with each clip's minimum (its silence floor),
    as ``core.features.patches`` pads."""
    missing = min_frames - x.shape[-1]
    if missing <= 0:
        return x
    floor = x.amin(dim=(-2, -1), keepdim=True).expand(*x.shape[:-1], missing)
    return torch.cat([x, floor], dim=-1)


def he_init(module: nn.Module) -> None:
    """He (kaiming) normal init of every Conv/Linear weight (fan-in, ReLU gain), zero biases; BN to 1/0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def upsample_2d(cam: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(N, h, w)`` to ``(N, *size)``."""
    return F.interpolate(cam[:, None].float(), size=size, mode="bilinear", align_corners=False)[:, 0]


def load_trunk_strict(model: nn.Module, keys: Sequence[str], state_dict: Mapping[str, torch.Tensor], what: str) -> None:
    """Load ``state_dict`` into the ``keys`` part of ``model`` strictly: exactly those names, same shapes."""
    missing = sorted(set(keys) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(keys))
    if missing or unexpected:
        raise CheckpointError(
            f"These {what} weights do not match the model: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}. Build the model with the "
            "weights' width (and embeddings setting) and pass only the trunk's tensors."
        )
    own = model.state_dict()
    wrong = [f"{k}: {tuple(state_dict[k].shape)} != {tuple(own[k].shape)}"
             for k in keys if state_dict[k].shape != own[k].shape]
    if wrong:
        raise CheckpointError(
            f"These {what} weights have other shapes than the model: {wrong[:5]}; check the width setting."
        )
    model.load_state_dict(dict(state_dict), strict=False)  # the key sets were checked above


# value checks (ConfigError with the setting's name)


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


def scaled(channels: int, width: float) -> int:
    """Channel count ``channels * width`` rounded, at least 1 (timm-style width multiplier)."""
    return max(1, int(round(channels * width)))


class PatchModel(SerModel):
    """S3-style models that see 96-frame x 64-band patches and average the patch logits.

    The clip ``(B, bands, T)`` is cut by ``core.features.patches`` every ``patch_hop`` frames
    (the tail padded with the clip's floor), each patch laid out as ``(1, 96 frames, 64 bands)``
    (frames are image rows, as in VGGish/YAMNet). A 96-frame input is exactly one patch, which is
    how segment-level training feeds these models. ``forward_features`` returns maps shaped
    ``(B, P, C, h, w)``; hooks on the cam layers see them as ``(B * P, C, h, w)``, patch-major
    within each clip (row ``b * P + p``).
    """

    bands = 64
    patch_frames = 96
    patch_hop: int = 96

    def to_patches(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """``(B, bands, T)`` -> ``(B * P, 1, 96, bands)`` and ``P``."""
        x = self._check_input(x)
        cut = patches(x, self.patch_frames, self.patch_hop)  # (B, P, bands, 96)
        b, p = cut.shape[:2]
        return cut.transpose(-1, -2).reshape(b * p, 1, self.patch_frames, x.shape[1]), p

    def n_patches(self, n_frames: int) -> int:
        return n_patches(n_frames, self.patch_frames, self.patch_hop)

    def patch_starts(self, n_frames: int) -> list[int]:
        """First frame of every patch of an ``n_frames`` clip."""
        return [i * self.patch_hop for i in range(self.n_patches(n_frames))]

    @staticmethod
    def _unflatten(maps: torch.Tensor, p: int) -> torch.Tensor:
        return maps.reshape(maps.shape[0] // p, p, *maps.shape[1:])

    def cam_to_grid(self, cam: torch.Tensor, n_frames: int) -> torch.Tensor:
        """``cam`` ``(B * P, h, w)`` (rows = frames, columns = bands, as the hooked layers see
        them) -> ``(B, bands, n_frames)``: each patch's map is resized to 96 x bands, transposed
        and placed at its start frame; overlapping patches are averaged; padding is cropped."""
        p = self.n_patches(n_frames)
        if cam.shape[0] % p:
            raise ValueError(f"cam has {cam.shape[0]} rows, not a multiple of the {p} patches of {n_frames} frames")
        b, bands, pf = cam.shape[0] // p, self.bands, self.patch_frames
        up = upsample_2d(cam, (pf, bands)).transpose(-1, -2).reshape(b, p, bands, pf)
        total = (p - 1) * self.patch_hop + pf
        grid = up.new_zeros(b, bands, total)
        count = up.new_zeros(total)
        for i, start in enumerate(self.patch_starts(n_frames)):
            grid[..., start:start + pf] += up[:, i]
            count[start:start + pf] += 1
        return (grid / count.clamp_min(1))[..., :n_frames]


__all__ = [
    "ModelSpec", "SerModel", "PatchModel", "ClassifierHead", "register_model", "build", "available", "spec",
    "default_config", "demo_config", "num_parameters",
]
