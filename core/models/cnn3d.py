"""S1: 3D CNN over spectro-temporal volumes (Kim, Truong, Englebienne, Evers, ACII 2017).

The log-mel ``(B, F=64, frames)`` is cut into ``T`` consecutive segments of ``L`` frames and laid out
as a volume ``(B, 1, T, L, F)``: ``volume[b, 0, t, l, f] = x[b, f, start + t * L + l]``. Clips longer
than ``T * L`` frames are cropped centrally (``start = (frames - T * L) // 2``); shorter ones are
padded at the tail with the clip's floor (``start = 0``).

Conv3d blocks use shallow kernels across segments (depth 1-2 along T) and deeper spectro-temporal
kernels along L x F, each followed by BatchNorm, ReLU and (except the last) max-pooling along
L x F only, so the segment axis keeps its resolution for the attribution map. Then GAP ->
Linear + ReLU (the embedding, ``embed``; t-SNE reads it) -> Linear to classes.
Kernel sizes and widths are ours (the paper reports the idea, not a table we can reproduce).

The kernel depths are settings, one per axis of the volume: ``temporal_depth`` (across segments T),
``frame_depth`` (along a segment's frames L) and ``spectral_depth`` (along bands F), each one value per block
or a single value for every block. A single value everywhere is S1's "homogeneous architecture" (every block
the same kernel, as C3D's study of kernel depths; preset ``s1-homogeneous``); the defaults are our
heterogeneous table ``CNN3D_LAYER_DEFS``, so models and cards saved before these settings rebuild unchanged.
The paper's kernel study (temporal x spectral depth) is a sweep over ``temporal_depth`` and ``spectral_depth``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from core.models.base import SerModel
from core.errors import ConfigError
from core.models.checks import check_float, check_int
from core.models.layers import ClassifierHead, pad_frames
from core.models.registry import register_model
from core.models.spec import ModelSpec


@dataclass(frozen=True)
class Cnn3dBlockDef:
    multiple: int  # channels = width * multiple
    kernel: tuple[int, int, int]  # (segments T, frames L, bands F)
    pool: tuple[int, int, int] | None  # max-pool after the block, or None


CNN3D_LAYER_DEFS: tuple[Cnn3dBlockDef, ...] = (
    Cnn3dBlockDef(1, (1, 5, 5), (1, 2, 2)),
    Cnn3dBlockDef(2, (2, 3, 3), (1, 2, 2)),
    Cnn3dBlockDef(4, (2, 3, 3), None),
)
DEPTH_SETTINGS = ("temporal_depth", "frame_depth", "spectral_depth")  # kernel axes T, L, F
# L and F shrink by this factor before the last block; each must stay >= 1.
_REDUCTION = tuple(math.prod(d.pool[i] for d in CNN3D_LAYER_DEFS if d.pool) for i in range(3))


class Conv3dBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, d: Cnn3dBlockDef):
        super().__init__()
        # "same" padding spelt out (even kernel depths pad one more at the end, as PyTorch's "same")
        self.pad = nn.ConstantPad3d([p for k in reversed(d.kernel) for p in ((k - 1) // 2, k // 2)], 0.0)
        self.conv = nn.Conv3d(in_ch, out_ch, d.kernel, bias=False)
        self.bn = nn.BatchNorm3d(out_ch)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool3d(d.pool) if d.pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(self.bn(self.conv(self.pad(x)))))


CNN3D_SPEC = ModelSpec(
    name="cnn3d", paper="S1", input_kind="volume", feature_preset="stft-v3",
    cam_layers=("blocks.2",), eca_taps=(), has_attention=False, min_frames=1,
    description="S1 (Kim et al., ACII 2017): log-mel cut into T segments of L frames, Conv3d blocks with "
    "shallow kernels across segments, GAP, embedding, classes",
)


class Cnn3d(SerModel):
    default_spec = CNN3D_SPEC
    bands = 64

    def __init__(self, num_classes: int, segments: int, segment_frames: int, width: int, embed_dim: int,
                 dropout: float, layer_defs: tuple[Cnn3dBlockDef, ...] = CNN3D_LAYER_DEFS):
        super().__init__()
        self.segments, self.segment_frames = segments, segment_frames
        blocks, in_ch = [], 1
        for d in layer_defs:
            blocks.append(Conv3dBlock(in_ch, width * d.multiple, d))
            in_ch = width * d.multiple
        self.blocks = nn.Sequential(*blocks)
        self.head = ClassifierHead(in_ch, num_classes, hidden=embed_dim, dropout=dropout)
        self.num_features = embed_dim

    @property
    def volume_frames(self) -> int:
        return self.segments * self.segment_frames

    def crop_start(self, n_frames: int) -> int:
        """First input frame in the volume (central crop; 0 when the clip is padded)."""
        return max(0, (n_frames - self.volume_frames) // 2)

    def to_volume(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, F, frames)`` -> ``(B, 1, T, L, F)`` (see the module docstring for the layout)."""
        x = self._check_input(x)
        n, start = self.volume_frames, self.crop_start(x.shape[-1])
        x = pad_frames(x[..., start:start + n], n)
        b, f = x.shape[:2]
        return x.reshape(b, f, self.segments, self.segment_frames).permute(0, 2, 3, 1)[:, None]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last block's map ``(B, C, T, L / 4, F / 4)``."""
        return self.blocks(self.to_volume(x))

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(features.mean(dim=(2, 3, 4)), pre_logits=pre_logits)

    def volume_to_grid(self, map_3d: torch.Tensor, n_frames: int) -> torch.Tensor:
        """A map over the volume, ``(T', L', F')`` or ``(B, T', L', F')`` (e.g. the channel-reduced
        output of ``blocks.2``), -> ``(bands, n_frames)`` or ``(B, bands, n_frames)``.

        The map is resized trilinearly to ``(T, L, F)``, unrolled to frames ``t * L + l`` and
        placed at ``crop_start(n_frames)``; frames the central crop left out get 0, padding is cut.
        """
        single = map_3d.dim() == 3
        m = map_3d[None] if single else map_3d
        m = F.interpolate(m[:, None].float(), size=(self.segments, self.segment_frames, self.bands),
                          mode="trilinear", align_corners=False)[:, 0]  # (B, T, L, F)
        flat = m.permute(0, 3, 1, 2).reshape(m.shape[0], self.bands, self.volume_frames)
        start = self.crop_start(n_frames)
        grid = flat.new_zeros(m.shape[0], self.bands, n_frames)
        used = min(n_frames - start, self.volume_frames)
        grid[..., start:start + used] = flat[..., :used]
        return grid[0] if single else grid

    def cam_to_grid(self, cam: torch.Tensor, n_frames: int) -> torch.Tensor:
        """``cam`` ``(B, T', L', F')`` of ``blocks.2`` -> ``(B, bands, n_frames)`` (``volume_to_grid``)."""
        return self.volume_to_grid(cam, n_frames)


def _depths(name: str, value) -> tuple[int, ...]:
    """One kernel depth per block: a single integer for every block (homogeneous), or a list of one per block."""
    n = len(CNN3D_LAYER_DEFS)
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,) * n
    if len(values) != n:
        raise ConfigError(f"setting '{name}' must be one integer for every block or a list of {n} (one per block), "
                          f"not {value!r}.")
    return tuple(check_int(f"{name}[{i}]", v) for i, v in enumerate(values))


def layer_defs(temporal_depth, frame_depth, spectral_depth) -> tuple[Cnn3dBlockDef, ...]:
    """``CNN3D_LAYER_DEFS`` with the kernels ``(T, L, F)`` the depth settings give (checked)."""
    per_axis = [_depths(name, value) for name, value in zip(DEPTH_SETTINGS, (temporal_depth, frame_depth,
                                                                            spectral_depth))]
    return tuple(replace(d, kernel=kernel) for d, kernel in zip(CNN3D_LAYER_DEFS, zip(*per_axis)))


_DEFAULT_DEPTHS = tuple(tuple(d.kernel[axis] for d in CNN3D_LAYER_DEFS) for axis in range(3))  # (1,2,2), (5,3,3), ...


@register_model(
    CNN3D_SPEC,
    demo={"width": 8, "embed_dim": 32},
)
def cnn3d(num_classes: int, *, segments: int = 10, segment_frames: int = 30, width: int = 32, embed_dim: int = 128,
          dropout: float = 0.0, temporal_depth: int | tuple[int, ...] = _DEFAULT_DEPTHS[0],
          frame_depth: int | tuple[int, ...] = _DEFAULT_DEPTHS[1],
          spectral_depth: int | tuple[int, ...] = _DEFAULT_DEPTHS[2]) -> Cnn3d:
    """``temporal_depth`` / ``frame_depth`` / ``spectral_depth``: the kernels' extent across segments, frames and
    bands, one per block or one for all (S1's homogeneous architecture); the defaults are ``CNN3D_LAYER_DEFS``."""
    return Cnn3d(
        num_classes,
        segments=check_int("segments", segments),
        segment_frames=check_int("segment_frames", segment_frames, minimum=_REDUCTION[1]),
        width=check_int("width", width),
        embed_dim=check_int("embed_dim", embed_dim),
        dropout=check_float("dropout", dropout, 0.0, 1.0),
        layer_defs=layer_defs(temporal_depth, frame_depth, spectral_depth),
    )
