"""Exact incremental inference for occlusion: recompute only what an occluding window changes.

Nakandala, Kumar & Papakonstantinou, "Incremental and Approximate Inference for Faster Occlusion-based Deep
CNN Explanations" (SIGMOD 2019): a window changes a conv layer's output only where the layer's receptive field
meets it, and the costly early layers are local, so each window needs a thin slab of every early layer, not a
whole forward. Two model shapes are supported, each declared by the model (``core.models.base``):

* ``time_local_stem(x)``: the model as ``rest(layers(prepare(x)))`` where ``layers`` are leaf modules local in
  time (the last axis): convolutions with zero padding, pools without padding, and pointwise modules. For each
  window we carry the slab of possibly changed time steps from layer to layer (the same width for every window
  of a batch, so slabs batch), read its neighbours from the clean clip's cached activations, and run ``rest``
  on the clean stem output with the slab pasted in.
* ``patch_parts()``: S3's patch models, whose trunk sees every 96-frame patch alone: only the patches whose
  input a window changed go through the trunk; the others reuse the clean clip's patch features.

Both are exact: the result equals plain occlusion up to float rounding (tested against captum ``Occlusion`` on
every registered conv model). A model with neither (the 3D CNN, models normalising over the whole clip, clips
shorter than the model pads to) gets ``None`` from ``plan`` and plain occlusion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._pytree import tree_map

from core.models.base import PatchParts, TimeLocalStem

Window = tuple[int, int, int, int]  # band start, band end, frame start, frame end (clipped to the grid)

POINTWISE = (nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.Identity, nn.Dropout, nn.Sigmoid, nn.Tanh,
             nn.GELU, nn.LeakyReLU, nn.ELU)


@dataclass(frozen=True)
class _Geometry:
    """One layer along time: output ``i`` reads inputs ``i * stride - pad + dilation * j`` for ``j < kernel``."""

    kernel: int = 1
    stride: int = 1
    pad: int = 0
    dilation: int = 1
    fill: float = 0.0  # what the layer's padding (or a ceil-mode pool's missing tail) reads

    @property
    def reach(self) -> int:
        return self.dilation * (self.kernel - 1)


def _pick(value, axis: int) -> int:
    return int(value[axis]) if isinstance(value, (tuple, list)) else int(value)


def geometry(module: nn.Module, axis: int = -1) -> _Geometry | None:
    """The geometry of a supported leaf module along ``axis`` (-1: time; 0: the bands of a 2D layer); ``None``:
    pointwise; ``ValueError`` if unsupported (a 1D layer mixes the bands as channels)."""
    if isinstance(module, POINTWISE):
        return None
    if axis != -1 and isinstance(module, (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d)):
        raise ValueError(f"{type(module).__name__} mixes every band")
    if isinstance(module, (nn.Conv1d, nn.Conv2d)) and module.padding_mode == "zeros":
        return _Geometry(_pick(module.kernel_size, axis), _pick(module.stride, axis), _padding(module, axis),
                         _pick(module.dilation, axis))
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)):
        padding = module.padding if isinstance(module.padding, (tuple, list)) else (module.padding,)
        if any(padding):
            raise ValueError(f"{module}: padded pools are not supported")
        is_max = isinstance(module, (nn.MaxPool1d, nn.MaxPool2d))
        if module.ceil_mode and not is_max:
            raise ValueError(f"{module}: a ceil-mode average pool divides its tail unevenly")
        kernel = _pick(module.kernel_size, axis)
        stride = _pick(module.stride if module.stride is not None else module.kernel_size, axis)
        return _Geometry(kernel, stride, 0, _pick(getattr(module, "dilation", 1), axis),
                         fill=-math.inf if is_max else 0.0)
    raise ValueError(f"{type(module).__name__} is not a time-local layer the incremental path knows")


def _apply(module: nn.Module, segment: torch.Tensor) -> torch.Tensor:
    """``module`` on a segment that already holds its time padding: no time padding, no ceil mode."""
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        other = () if isinstance(module, nn.Conv1d) else (_padding(module, 0),)
        conv = F.conv1d if isinstance(module, nn.Conv1d) else F.conv2d
        return conv(segment, module.weight, module.bias, module.stride, (*other, 0), module.dilation, module.groups)
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d)):
        return F.max_pool1d(segment, module.kernel_size, module.stride, 0, module.dilation) if isinstance(
            module, nn.MaxPool1d) else F.max_pool2d(segment, module.kernel_size, module.stride, 0, module.dilation)
    if isinstance(module, (nn.AvgPool1d, nn.AvgPool2d)):
        pool = F.avg_pool1d if isinstance(module, nn.AvgPool1d) else F.avg_pool2d
        return pool(segment, module.kernel_size, module.stride, 0)
    return module(segment)


def _padding(conv: nn.Conv1d | nn.Conv2d, axis: int) -> int:
    """A conv's zero padding on each side of one axis (-1: time, 0: bands of a 2D conv), "same" and "valid"
    resolved; ``ValueError`` for a "same" padding that is not symmetric."""
    if conv.padding == "valid":
        return 0
    if conv.padding == "same":
        reach = conv.dilation[axis] * (conv.kernel_size[axis] - 1)
        if reach % 2:
            raise ValueError(f"{conv}: 'same' padding of an even kernel is asymmetric")
        return reach // 2
    return int(conv.padding[axis])


def _gather(full: torch.Tensor, starts: torch.Tensor, width: int) -> torch.Tensor:
    """``full`` ``(1, *C, T)`` -> ``(N, *C, width)``: the slices ``[s, s + width)`` for every start ``s`` (slice
    copies: an index gather along the last axis costs more than the convolutions it feeds)."""
    return torch.stack([full[0, ..., s : s + width] for s in starts.tolist()])


def _overlay(base: torch.Tensor, base_starts: torch.Tensor, slab: torch.Tensor,
             slab_starts: torch.Tensor) -> torch.Tensor:
    """``base`` ``(N, *C, W)`` covering ``[b, b + W)`` with ``slab`` ``(N, *C, w)`` covering ``[s, s + w)``
    written over it, in place, where they meet."""
    width, slab_width = base.shape[-1], slab.shape[-1]
    for i, (b, s) in enumerate(zip(base_starts.tolist(), slab_starts.tolist())):
        lo, hi = max(b, s), min(b + width, s + slab_width)
        if hi > lo:
            base[i, ..., lo - b : hi - b] = slab[i, ..., lo - s : hi - s]
    return base


def _cover(lo: torch.Tensor, hi: torch.Tensor, length: int) -> tuple[torch.Tensor, int]:
    """One width for every window and starts that keep each ``[lo, hi)`` inside ``[start, start + width)``
    and the slab inside ``[0, length)``."""
    width = int((hi - lo).max())
    return torch.minimum(lo, torch.tensor(length - width, device=lo.device)), width


class StemOcclusion:
    """Occlusion logits through a ``TimeLocalStem``: the clean clip's activations cached once per clip."""

    def __init__(self, stem: TimeLocalStem, features: torch.Tensor):
        self.stem = stem
        self.features = features
        self.geometries = [geometry(m) for m in stem.layers]
        self.clean = [stem.prepare(features[None])]  # the input of every layer, then the stem's output
        for module in stem.layers:
            self.clean.append(module(self.clean[-1]))
        # every layer's clean input, padded once with what any window's segment can read beyond it
        self.padded = [None if g is None else F.pad(x, (g.pad, g.pad + g.reach + g.stride), value=g.fill)
                       for g, x in zip(self.geometries, self.clean)]

    def logits(self, windows: Sequence[Window], base: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, classes)`` of the clip with each window replaced by ``base`` (``(bands, frames)``)."""
        device = self.features.device
        frames = self.features.shape[-1]
        lo = torch.tensor([w[2] for w in windows], device=device)
        hi = torch.tensor([w[3] for w in windows], device=device)
        starts, width = _cover(lo, hi, frames)
        slab = _gather(self.features[None], starts, width)
        removed = _gather(base[None], starts, width)
        at = torch.arange(width, device=device)[None] + starts[:, None]  # frame of each slab column
        bands = torch.arange(self.features.shape[0], device=device)
        mask = torch.stack([((bands[:, None] >= b0) & (bands[:, None] < b1) & (at[i] >= f0) & (at[i] < f1))
                            for i, (b0, b1, f0, f1) in enumerate(windows)])
        slab = self.stem.prepare(torch.where(mask, removed, slab))
        for module, g, padded, clean_out in zip(self.stem.layers, self.geometries, self.padded, self.clean[1:]):
            if g is None:
                slab = module(slab)
                continue
            out_len = clean_out.shape[-1]
            first = torch.div(starts + g.pad - g.reach + g.stride - 1, g.stride, rounding_mode="floor").clamp_min(0)
            last = torch.div(starts + slab.shape[-1] - 1 + g.pad, g.stride, rounding_mode="floor").clamp_max(out_len - 1)
            out_starts, out_width = _cover(first, last + 1, out_len)
            need = (out_width - 1) * g.stride + g.reach + 1
            need_starts = out_starts * g.stride - g.pad
            segment = _gather(padded, need_starts + g.pad, need)
            segment = _overlay(segment, need_starts, slab, starts)
            slab, starts = _apply(module, segment), out_starts
        full = self.clean[-1].repeat(len(windows), *([1] * (self.clean[-1].dim() - 1)))
        zero = torch.zeros(len(windows), dtype=starts.dtype, device=device)
        return self.stem.rest(_overlay(full, zero, slab, starts))


class PatchOcclusion:
    """Occlusion logits through ``PatchParts``: only the patches a window changed go through the trunk."""

    def __init__(self, parts: PatchParts, features: torch.Tensor):
        self.parts = parts
        self.clean_patches, self.n_patches = parts.cut(features[None])
        self.clean = parts.trunk(self.clean_patches)
        self.features = features

    def logits(self, windows: Sequence[Window], base: torch.Tensor) -> torch.Tensor:
        occluded = self.features.expand(len(windows), *self.features.shape).clone()
        for i, (b0, b1, f0, f1) in enumerate(windows):
            occluded[i, b0:b1, f0:f1] = base[b0:b1, f0:f1]
        cut, p = self.parts.cut(occluded)
        clean = self.clean_patches.repeat(len(windows), *([1] * (cut.dim() - 1)))
        changed = (cut != clean).flatten(1).any(1).nonzero()[:, 0]
        fresh = self.parts.trunk(cut[changed])

        def merge(clean_part: torch.Tensor, fresh_part: torch.Tensor) -> torch.Tensor:
            merged = clean_part.repeat(len(windows), *([1] * (clean_part.dim() - 1)))
            merged[changed] = fresh_part
            return merged

        return self.parts.head(tree_map(merge, self.clean, fresh), p)


def plan(model: nn.Module, features: torch.Tensor) -> StemOcclusion | PatchOcclusion | None:
    """The incremental path for ``model`` on this clip, or ``None`` where only plain occlusion is exact."""
    stem = getattr(model, "time_local_stem", lambda x: None)(features[None])
    if stem is not None:
        try:
            return StemOcclusion(stem, features)
        except ValueError:
            return None
    parts = getattr(model, "patch_parts", lambda: None)()
    return PatchOcclusion(parts, features) if parts is not None else None
