"""Exact cell-pattern inference for LIME: a sample's early layers are gathered from a few precomputed inputs.

A LIME sample keeps or removes whole grid cells (``maps.Grid``). In a ``TimeLocalStem`` whose layers are local in
both axes (2D convolutions and pools: S0's CNN), an activation depends only on the cells its receptive field
touches. Colour every cell by ``(band cell mod a, frame cell mod b)``, where ``a x b`` is the most cells one
receptive field of the cut layer touches: the cells under one receptive field then all have different colours,
so for any sample an activation equals that of the *pattern* input keeping exactly the colours the sample keeps
there. The ``2 ** (a * b)`` pattern inputs go through the stem once per clip; for every sample the cut layer's
output is a gather from them, and only the layers after the cut run per sample. The result equals a plain
forward of the perturbed clip up to float rounding (tested against plain LIME).

The cuts are where ``patterns x FLOPs of the tables + samples x FLOPs after the last cut`` is least (FLOPs by
``torch.utils.flop_counter``'s formulas), used only when that is clearly below ``samples x FLOPs of a forward``.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, ContextManager

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import conv_flop_count, mm_flop

from core.explain.incremental import geometry
from core.explain.maps import Grid
from core.models.base import TimeLocalStem

MAX_PATTERNS = 256
MAX_TABLE_BYTES = 256 * 2**20
PAYS_BELOW = 0.8  # use patterns only below this share of plain forwards' FLOPs
GATHER_FLOPS = 4  # what reading one element from a table costs, in FLOPs (pointwise layers count none)


@dataclass(frozen=True)
class _Field:
    """Receptive field along one axis: output ``i`` reads inputs ``[i * stride - pad, i * stride - pad + size)``;
    ``size=None``: every input (a layer that mixes the whole axis, e.g. a 1D conv over mel bands as channels)."""

    stride: int = 1
    pad: int = 0
    size: int | None = 1

    def then(self, module: nn.Module, axis: int) -> "_Field":
        if self.size is None:
            return self
        try:
            g = geometry(module, axis)
        except ValueError:
            return _Field(self.stride, self.pad, None)
        if g is None:
            return self
        return _Field(self.stride * g.stride, self.pad + g.pad * self.stride, self.size + g.reach * self.stride)

    def cells(self, n_out: int, n_in: int, step: int) -> list[list[int]]:
        """For each output index, the grid cells (of ``step`` inputs) its receptive field touches."""
        n_cells = -(-n_in // step)
        if self.size is None:
            return [list(range(n_cells))] * n_out
        out = []
        for i in range(n_out):
            lo = max(0, i * self.stride - self.pad)
            hi = min(n_in, i * self.stride - self.pad + self.size)
            out.append(list(range(lo // step, (hi - 1) // step + 1)) if hi > lo else [])
        return out


class _FlopCount:
    """FLOPs of the convolutions and linear layers of ``model`` run inside ``with``, by torch's own formulas
    (``torch.utils.flop_counter``; counted from forward hooks, since its dispatch mode imports dynamo on first use,
    seconds an analyst's first LIME would wait for). Pointwise layers and pools count none."""

    def __init__(self, model: nn.Module):
        self.model, self.total, self.handles = model, 0, []

    def _hook(self, module: nn.Module, inputs, output) -> None:
        x = inputs[0]
        if isinstance(module, nn.Linear):
            self.total += mm_flop((x.numel() // x.shape[-1], module.in_features), (module.in_features, module.out_features))
        else:
            self.total += conv_flop_count(list(x.shape), list(module.weight.shape), list(output.shape))

    def __enter__(self) -> "_FlopCount":
        self.handles = [m.register_forward_hook(self._hook) for m in self.model.modules()
                        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self.handles:
            handle.remove()


def _slots(cells: list[list[int]], width: int) -> np.ndarray:
    """``(n_out, width)`` cell indices, ``-1`` past each output's cells."""
    table = np.full((len(cells), width), -1, dtype=np.int64)
    for i, row in enumerate(cells):
        table[i, : len(row)] = row
    return table


@dataclass(frozen=True)
class _Cut:
    """Where a table of patterns can sit: after stem layer ``layer``, ``a x b`` cells under a receptive field."""

    layer: int
    a: int
    b: int
    band_slots: np.ndarray  # (H, a)
    frame_slots: np.ndarray  # (W, b)

    @property
    def patterns(self) -> int:
        return 2 ** (self.a * self.b)


class _Table:
    """The cut layer's output for every pattern, and how a sample's keep vector picks from it."""

    def __init__(self, cut: _Cut, grid: Grid, outputs: torch.Tensor):
        device = outputs.device
        bands = torch.as_tensor(cut.band_slots, device=device)
        frames = torch.as_tensor(cut.frame_slots, device=device)
        # per position and slot: the cell there, whether the slot holds one, and that cell's colour
        self.cell = bands.clamp_min(0)[:, :, None, None] * grid.n_frame_cells + frames.clamp_min(0)[None, None]
        self.valid = (bands >= 0)[:, :, None, None] & (frames >= 0)[None, None]  # (H, a, W, b)
        self.colours = _colours(cut, grid, device)[self.cell]
        self.shape = tuple(outputs.shape[1:])  # (C, H, W)
        self.values = outputs.flatten(2).permute(2, 0, 1).contiguous()  # (H * W, patterns, C)

    @staticmethod
    def keeps(cut: _Cut, grid: Grid, device: torch.device) -> torch.Tensor:
        """``(patterns, cells)``: pattern ``p`` keeps the cells whose colour is a bit of ``p``."""
        return (torch.arange(cut.patterns, device=device)[:, None] >> _colours(cut, grid, device)[None]) & 1

    def codes(self, keep: torch.Tensor) -> torch.Tensor:
        """``(N, H * W)``: the pattern whose activation each sample has at each position."""
        kept = keep.long()[:, self.cell] * self.valid  # (N, H, a, W, b)
        return (kept << self.colours).sum(dim=(2, 4)).flatten(1)

    def gather(self, keep: torch.Tensor) -> torch.Tensor:
        """The cut layer's output ``(N, C, H, W)`` for samples ``keep`` ``(N, cells)``."""
        code = self.codes(keep)
        picked = self.values[torch.arange(code.shape[1], device=code.device)[None], code]  # (N, H * W, C)
        return picked.permute(0, 2, 1).reshape(len(keep), *self.shape)


def _colours(cut: _Cut, grid: Grid, device: torch.device) -> torch.Tensor:
    """``(cells,)``: each cell's colour ``(band cell mod a) * b + frame cell mod b``."""
    rows = torch.arange(grid.n_band_cells, device=device)[:, None] % cut.a
    cols = torch.arange(grid.n_frame_cells, device=device)[None] % cut.b
    return (rows * cut.b + cols).flatten()


class PatternedLime:
    """Logits of LIME samples (``keep``: ``(N, cells)`` of 0/1) through tables of patterns at ``cuts``.

    The first table's patterns are clips built as ``lime.py`` builds a sample; each later table's patterns are
    gathered from the one before and run through the layers between; a sample is gathered from the last table.
    """

    def __init__(self, stem: TimeLocalStem, features: torch.Tensor, base: torch.Tensor, grid: Grid,
                 cuts: list[_Cut], batch: int, guard: Callable[[], ContextManager] = nullcontext):
        self.stem, self.cuts = stem, cuts
        cells = torch.as_tensor(grid.labels(), device=features.device)
        table, done = None, -1
        for cut in cuts:
            keeps = _Table.keeps(cut, grid, features.device)
            parts = []
            for keep in keeps.split(batch):
                with guard():  # the model's lock, per batch of patterns as per batch of samples
                    h = (self.stem.prepare(base + keep.to(features.dtype)[:, cells] * (features - base))
                         if table is None else table.gather(keep))
                    parts.append(self._layers(h, done + 1, cut.layer + 1))
            table, done = _Table(cut, grid, torch.cat(parts)), cut.layer
        self.table = table

    def _layers(self, h: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        for module in self.stem.layers[start:stop]:
            h = module(h)
        return h

    def logits(self, keep: torch.Tensor) -> torch.Tensor:
        h = self._layers(self.table.gather(keep), self.cuts[-1].layer + 1, len(self.stem.layers))
        return self.stem.rest(h)


def _cuts(model: nn.Module, stem: TimeLocalStem, features: torch.Tensor,
          grid: Grid) -> tuple[list[_Cut | None], list[int], list[int], int]:
    """Per stem layer: the cut after it (``None``: too many patterns), its FLOPs and output size; ``rest``'s FLOPs."""
    h = stem.prepare(features[None])
    if h.dim() != 4:
        return [], [], [], 0
    bands, frames = _Field(), _Field()
    cuts, flops, sizes = [], [], []
    for i, module in enumerate(stem.layers):
        with _FlopCount(model) as count:
            h = module(h)
        flops.append(count.total)
        sizes.append(h.numel())
        bands, frames = bands.then(module, 0), frames.then(module, -1)
        band_cells = bands.cells(h.shape[2], grid.bands, grid.band_step)
        frame_cells = frames.cells(h.shape[3], grid.frames, grid.frame_step)
        a, b = max(map(len, band_cells)), max(map(len, frame_cells))
        fits = 2 ** (a * b) <= MAX_PATTERNS and 2 ** (a * b) * h[0].numel() * h.element_size() <= MAX_TABLE_BYTES
        cuts.append(_Cut(i, a, b, _slots(band_cells, a), _slots(frame_cells, b)) if fits else None)
    with _FlopCount(model) as count:
        stem.rest(h)
    return cuts, flops, sizes, count.total


def plan(model: nn.Module, features: torch.Tensor, base: torch.Tensor, grid: Grid, samples: int,
         batch: int, guard: Callable[[], ContextManager] = nullcontext) -> PatternedLime | None:
    """The pattern path for ``samples`` LIME samples of this clip, or ``None`` where it would not pay.

    The chain of cuts minimises the FLOPs of every table (its patterns x the layers since the previous cut) plus
    the samples' (the layers after the last cut), found by dynamic programming over the stem's layers.
    """
    stem = getattr(model, "time_local_stem", lambda x: None)(features[None])
    if stem is None or samples < 1:
        return None
    with guard(), torch.no_grad():  # the model's lock: the counting hooks must see only this forward
        cuts, flops, sizes, rest = _cuts(model, stem, features, grid)
    with torch.no_grad():
        total = sum(flops) + rest
        before = np.concatenate([[0], np.cumsum(flops)])  # before[j]: FLOPs of layers < j
        gathers = {j: GATHER_FLOPS * size for j, size in enumerate(sizes)}  # reading one sample from table j
        best: dict[int, tuple[float, list[_Cut]]] = {}  # cheapest chain of tables ending at cut j
        for j, cut in enumerate(cuts):
            if cut is None:
                continue
            # later cuts first: on a tie (pointwise layers cost nothing) the smaller, pooled table wins
            options = [(cost + cut.patterns * (before[j + 1] - before[i + 1] + gathers[i]), chain)
                       for i, (cost, chain) in reversed(best.items())] + [(cut.patterns * before[j + 1], [])]
            cost, chain = min(options, key=lambda option: option[0])
            best[j] = (cost, chain + [cut])
        if not best:
            return None
        cost, chain = min(((c + samples * (total - before[j + 1] + gathers[j]), chain)
                           for j, (c, chain) in reversed(best.items())),
                          key=lambda option: option[0])
        if cost >= PAYS_BELOW * samples * total:
            return None
        return PatternedLime(stem, features, base, grid, chain, batch, guard)
