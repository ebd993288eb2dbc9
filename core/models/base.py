"""The model contract every registered model implements (``SerModel``) and the patch-model base of S3.

* ``forward(x)``: ``x`` is the front end's output ``(B, bands, frames)`` (64 log-mel bands or
  40 MFCCs); returns logits ``(B, num_classes)``. Channel dims, transposes, patches, segments
  and padding all happen inside, so every attribution method works on the same bands x frames grid.
* ``forward_features(x)``: the last feature map(s) before pooling; ``forward_head(f,
  pre_logits=False)``: logits, or the penultimate embedding ``(B, D)``; ``embed(x)``.
* ``cam_to_grid(cam, n_frames)``: a channel-reduced map of the ``spec.cam_layers`` output
  (e.g. a Grad-CAM) laid back onto the ``(B, bands, n_frames)`` input grid.
* ``spec``: the instance's ``ModelSpec``, also on a model built directly (``CnnEca(4)``).
* No state is written to the module during ``forward``: one cached model serves many threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Sequence

import torch
from torch import nn
from torch.utils._pytree import tree_map

from core.errors import ConfigError
from core.features import n_patches, patches
from core.models.layers import upsample_2d
from core.models.spec import ModelSpec


@dataclass(frozen=True)
class TimeLocalStem:
    """``model(x) == rest(layers(prepare(x)))`` with every module of ``layers`` local along the last (time)
    axis: what ``core.explain.incremental`` needs to recompute only the slab an occluding window changes."""

    prepare: Callable[[torch.Tensor], torch.Tensor]
    layers: Sequence[nn.Module]
    rest: Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class PatchParts:
    """``model(x) == head(trunk(cut(x)), P)``: ``cut`` gives ``(B * P, ...)`` patches and ``P``, ``trunk`` sees
    each patch alone (output: a tensor, or a tuple/dict of them, with leading ``B * P``). The patch-model form of
    ``TimeLocalStem``: only the patches a window changed need the trunk."""

    cut: Callable[[torch.Tensor], tuple[torch.Tensor, int]]
    trunk: Callable[[torch.Tensor], object]
    head: Callable[[object, int], torch.Tensor]


class SerModel(nn.Module):
    """Base of every registered model: ``forward`` = ``forward_head(forward_features(x))``.

    Each concrete class names its paper spec in ``default_spec``; ``spec`` is that spec adapted to the
    instance's settings (``adapt_spec``), so a model built directly knows its cam layers and ECA taps.
    ``build`` also sets ``config``, ``num_classes`` and ``model_name`` (and the registered name's spec).
    """

    default_spec: ClassVar[ModelSpec]
    config: dict
    num_classes: int
    bands: int | None = None  # rows of the input grid the model expects (None: any)

    @property
    def spec(self) -> ModelSpec:
        """This instance's spec: the one ``build`` set, else the class's own adapted to the settings."""
        return self.__dict__.get("_spec") or self.adapt_spec(self.default_spec)

    @spec.setter
    def spec(self, value: ModelSpec) -> None:
        self.__dict__["_spec"] = value

    @property
    def model_name(self) -> str:
        """The registered name (``spec.name``), what checkpoints store to rebuild the model."""
        return self.spec.name

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

    def time_local_stem(self, x: torch.Tensor) -> TimeLocalStem | None:
        """The model split at its first layer that reads the whole clip, for inputs like ``x``; ``None``: no
        such split (incremental occlusion then runs plain forwards)."""
        return None

    def patch_parts(self) -> PatchParts | None:
        """The model as patches, a per-patch trunk and a head (``PatchModel``); ``None`` for other models."""
        return None

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

    def patch_input(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """What the trunk sees: ``to_patches`` of the (checked) input."""
        return self.to_patches(x)

    def patch_trunk(self, patches: torch.Tensor):
        """``(B * P, 1, 96, bands)`` -> the per-patch maps ``forward_features`` returns, not yet unflattened."""
        raise NotImplementedError  # pragma: no cover - each patch model has its trunk

    def forward_features(self, x: torch.Tensor):
        cut, p = self.patch_input(x)
        return tree_map(lambda m: self._unflatten(m, p), self.patch_trunk(cut))

    def patch_parts(self) -> PatchParts:
        return PatchParts(cut=self.patch_input, trunk=self.patch_trunk,
                          head=lambda f, p: self.forward_head(tree_map(lambda m: self._unflatten(m, p), f)))

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
