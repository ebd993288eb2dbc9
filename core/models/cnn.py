"""S0: the CNN baseline and the CNN with efficient channel attention (Kim & Kwon, arXiv 2409.04007).

Six blocks of 3x3 conv (bias, padding 1) + BatchNorm + ReLU + 2x2 average pooling; block 6 ends
without pooling and the head global-average-pools it. Block ``i`` has ``16 * n * i`` channels.
ECA (``core.models.eca``) sits at the end of the chosen blocks (paper: 5 and 6, k = 7). ``eca_kernel="adaptive"``
gives each block's ECA ECA-Net's own kernel size for its channel count (``eca_kernel_size``); with ECA after all
six blocks that is S0's "original ECA" baseline (Table 6, preset ``s0-original-eca``). ``cnn-mha`` and ``cnn-area``
put multi-head or area self-attention (``core.models.map_attention``) where ECA goes, ``cnn-hf`` head fusion: S0's
Table 5 comparison. Head:
Linear(C, C) + ReLU (+ dropout) + Linear(C, classes). He initialisation as in the paper.
With n = 4, k = 7 and 4 classes the model has exactly 2,734,482 parameters (the paper's count).

Input ``(B, 64 bands, frames)`` -> ``(B, 1, bands, frames)``: bands are the image rows. Five 2x2
pools need 32 frames; shorter inputs are padded at the tail with the clip's floor.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from core.errors import ConfigError
from core.models.eca import ECA, eca_kernel_size
from core.models.map_attention import AreaAttention, HeadFusion, MapSelfAttention
from core.models.base import SerModel, TimeLocalStem
from core.models.checks import check_bool, check_float, check_int, check_ints
from core.models.layers import ClassifierHead, he_init, pad_frames, upsample_2d
from core.models.registry import register_model
from core.models.spec import ModelSpec


@dataclass(frozen=True)
class CnnBlockDef:
    multiple: int  # channels = 16 * n * multiple
    pool: bool  # 2x2 average pooling at the end of the block (the last block: GAP in the head)


# S0 Table/Fig. 2: channels 16·n·i for block i; 2x2 avg-pool after blocks 1-5, GAP after block 6.
CNN_LAYER_DEFS: tuple[CnnBlockDef, ...] = tuple(CnnBlockDef(i, pool=i < 6) for i in range(1, 7))
CNN_BASE_CHANNELS = 16
CNN_MIN_SIZE = 2 ** sum(d.pool for d in CNN_LAYER_DEFS)  # 32: the pools need this many frames/bands
ADAPTIVE = "adaptive"  # eca_kernel: ECA-Net's k from each block's channel count


class ConvBlock(nn.Module):
    """conv -> bn -> act -> [pool] -> [eca | attention]: the block's output (a hook on ``blocks.i``) includes them.

    ECA rescales channels, which commutes with average pooling, so putting it after the pool
    gives the paper's "ECA after block i" at a quarter of the cost. Self-attention does not commute with pooling;
    S0 does not say which side of the pool its Table 5 modules sat, and here they sit after it, as ECA does.
    """

    def __init__(self, in_ch: int, out_ch: int, pool: bool, eca_kernel: int | None,
                 attention: nn.Module | None = None):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=True)
        self.bn = nn.BatchNorm2d(out_ch)
        self.act = nn.ReLU()
        self.pool = nn.AvgPool2d(2) if pool else nn.Identity()
        self.eca = ECA(eca_kernel) if eca_kernel else None
        self.attention = attention

    @property
    def gates(self) -> list[nn.Module]:
        """What follows the pool: ECA or self-attention, both reading the whole map."""
        return [m for m in (self.eca, self.attention) if m is not None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.act(self.bn(self.conv(x))))
        for module in self.gates:
            x = module(x)
        return x


_S0 = "S0 (Kim & Kwon, arXiv 2409.04007)"


CNN_SPEC = ModelSpec(
    name="cnn", paper="S0", input_kind="log-mel", feature_preset="stft-v8",
    cam_layers=("blocks.5",), eca_taps=(), has_attention=False, min_frames=1,
    description=f"{_S0} baseline: 6 conv blocks (16·n·i channels), GAP, 2-layer head; no ECA",
)

CNN_ECA_SPEC = ModelSpec(
    name="cnn-eca", paper="S0", input_kind="log-mel", feature_preset="stft-v8",
    cam_layers=("blocks.5",), eca_taps=("blocks.4.eca", "blocks.5.eca"), has_attention=False, min_frames=1,
    description=f"{_S0}: 6 conv blocks with efficient channel attention after blocks 5 and 6 (k=7)",
)

# S0 Table 5: other attention methods in the same CNN, where ECA goes (``core.models.map_attention``): each kind's
# spec (the baseline CNN's but for name and description) and its module for a block of ``c`` channels
MAP_ATTENTION = {
    "mha": (replace(CNN_SPEC, name="cnn-mha", description=f"{_S0} Table 5: the CNN with multi-head self-attention "
                    "over map positions after blocks 5 and 6"),
            lambda c, heads, max_area: MapSelfAttention(c, heads)),
    "head-fusion": (replace(CNN_SPEC, name="cnn-hf", description=f"{_S0} Table 5: the CNN with head-fusion attention "
                            "(Xu et al. 2021) after blocks 5 and 6"),
                    lambda c, heads, max_area: HeadFusion(c, heads)),
    "area": (replace(CNN_SPEC, name="cnn-area", description=f"{_S0} Table 5: the CNN with multiscale area attention "
                     "(Xu et al. 2021) after blocks 5 and 6"),
             lambda c, heads, max_area: AreaAttention(c, heads, tuple(max_area))),
}
CNN_MHA_SPEC, CNN_HF_SPEC, CNN_AREA_SPEC = (MAP_ATTENTION[kind][0] for kind in ("mha", "head-fusion", "area"))


class CnnEca(SerModel):
    bands = 64  # log-mel bands (the conv stack itself would take any number >= 32)

    def __init__(self, num_classes: int, n: int = 4, eca_kernel: int | str = 7, eca_blocks: tuple[int, ...] = (),
                 dropout: float = 0.0, cmn: bool = False, attention: str | None = None,
                 attention_blocks: tuple[int, ...] = (), heads: int = 4, max_area: tuple[int, int] = (3, 3)):
        super().__init__()
        self.cmn = cmn  # per-clip mean of each band removed: a recording's fixed channel colour and level
        self.eca_blocks = tuple(sorted(set(eca_blocks)))
        self.attention = attention  # a key of MAP_ATTENTION, in ``attention_blocks``
        blocks, in_ch = [], 1
        for i, d in enumerate(CNN_LAYER_DEFS, start=1):
            out_ch = CNN_BASE_CHANNELS * n * d.multiple
            k = eca_kernel_size(out_ch) if eca_kernel == ADAPTIVE else eca_kernel
            extra = (MAP_ATTENTION[attention][1](out_ch, heads, max_area) if attention and i in attention_blocks
                     else None)
            blocks.append(ConvBlock(in_ch, out_ch, d.pool, k if i in self.eca_blocks else None, extra))
            in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.head = ClassifierHead(in_ch, num_classes, hidden=in_ch, dropout=dropout)
        self.num_features = in_ch
        he_init(self)

    @property
    def default_spec(self) -> ModelSpec:
        """S0's CNN-ECA, its Table 5 alternatives, or its baseline CNN when no block has either."""
        if self.attention:
            return MAP_ATTENTION[self.attention][0]
        return CNN_ECA_SPEC if self.eca_blocks else CNN_SPEC

    def adapt_spec(self, spec: ModelSpec) -> ModelSpec:
        return replace(spec, eca_taps=tuple(f"blocks.{i - 1}.eca" for i in self.eca_blocks))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, bands, frames)`` -> the last block's map ``(B, C, bands / 32, frames / 32)``."""
        x = self._check_input(x)
        if self.cmn:
            x = x - x.mean(dim=-1, keepdim=True)
        return self.blocks(pad_frames(x, CNN_MIN_SIZE)[:, None])

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(features.mean(dim=(2, 3)), pre_logits=pre_logits)

    def time_local_stem(self, x: torch.Tensor) -> TimeLocalStem | None:
        """The layers before the first ECA or self-attention (both read the whole map) are local in time;
        ``None`` when the clip's band means are removed or a short clip is padded (both read the whole clip)."""
        if self.cmn or x.shape[-1] < CNN_MIN_SIZE:
            return None
        layers, rest = [], []
        for block in self.blocks:
            if rest:
                rest.append(block)
                continue
            layers += [block.conv, block.bn, block.act, block.pool]
            rest += block.gates
        return TimeLocalStem(prepare=lambda h: h[:, None], layers=layers,
                             rest=lambda h: self.forward_head(nn.Sequential(*rest)(h)))

    def cam_to_grid(self, cam: torch.Tensor, n_frames: int) -> torch.Tensor:
        """``cam`` ``(B, h, w)`` of ``blocks.5`` (rows = bands) -> ``(B, bands, n_frames)``.

        The map covers the (padded) input, ``max(n_frames, 32)`` frames: it is resized bilinearly
        to that and cropped to ``n_frames``.
        """
        covered = max(n_frames, CNN_MIN_SIZE)
        return upsample_2d(cam, (self.bands, covered))[..., :n_frames]


def _checked(n, dropout, setting: str, blocks, allow_empty: bool = False) -> tuple[int, ...]:
    """Check the settings every CNN shares (``n``, ``dropout``) and ``setting``'s block numbers; the blocks."""
    check_int("n", n)
    check_float("dropout", dropout, 0.0, 1.0)
    blocks = check_ints(setting, blocks, allow_empty=allow_empty)
    bad = [b for b in blocks if b > len(CNN_LAYER_DEFS)]
    if bad:
        raise ConfigError(f"setting '{setting}' names blocks {bad}; the CNN has blocks 1..{len(CNN_LAYER_DEFS)}.")
    return blocks


def _cnn(num_classes, n, eca_kernel, eca_blocks, dropout, cmn=False) -> CnnEca:
    blocks = _checked(n, dropout, "eca_blocks", eca_blocks, allow_empty=True)
    return CnnEca(num_classes, n=n, eca_kernel=_eca_kernel(eca_kernel), eca_blocks=blocks, dropout=dropout,
                  cmn=check_bool("cmn", cmn))


def _eca_kernel(value) -> int | str:
    """One ECA kernel size for every block, or ``ADAPTIVE``."""
    if value == ADAPTIVE or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise ConfigError(f"setting 'eca_kernel' must be an integer >= 1 or \"{ADAPTIVE}\" (ECA-Net's k from each "
                      f"block's channels), not {value!r}.")


@register_model(
    CNN_SPEC,
    demo={"n": 1},
)
def cnn(num_classes: int, *, n: int = 4, dropout: float = 0.0, cmn: bool = False) -> CnnEca:
    return _cnn(num_classes, n, 7, (), dropout, cmn)


@register_model(
    CNN_ECA_SPEC,
    demo={"n": 1},
)
def cnn_eca(num_classes: int, *, n: int = 4, eca_kernel: int | str = 7, eca_blocks: tuple[int, ...] = (5, 6),
            dropout: float = 0.0, cmn: bool = False) -> CnnEca:
    """``eca_kernel``: one k for every ECA, or "adaptive" (ECA-Net's rule per block); ``eca_blocks=(1, ..., 6)`` with
    "adaptive" is S0's "original ECA" baseline."""
    check_ints("eca_blocks", eca_blocks)  # non-empty: without ECA it is the model "cnn"
    return _cnn(num_classes, n, eca_kernel, eca_blocks, dropout, cmn)


def _attention_cnn(kind: str, num_classes: int, n: int, attention_blocks, heads: int, dropout: float, cmn: bool,
                   max_area=(3, 3)) -> CnnEca:
    blocks = _checked(n, dropout, "attention_blocks", attention_blocks)
    heads = check_int("heads", heads)
    uneven = [CNN_BASE_CHANNELS * n * b for b in blocks if (CNN_BASE_CHANNELS * n * b) % heads]
    if uneven:
        raise ConfigError(f"setting 'heads' = {heads} does not divide the {uneven} channels of blocks {blocks}.")
    area = check_ints("max_area", max_area)
    if len(area) != 2:
        raise ConfigError(f"setting 'max_area' is (bands, frames) of the largest area, not {list(max_area)}.")
    return CnnEca(num_classes, n=n, eca_blocks=(), dropout=dropout, cmn=check_bool("cmn", cmn), attention=kind,
                  attention_blocks=blocks, heads=heads, max_area=area)


@register_model(
    CNN_MHA_SPEC,
    demo={"n": 1},
)
def cnn_mha(num_classes: int, *, n: int = 4, attention_blocks: tuple[int, ...] = (5, 6), heads: int = 4,
            dropout: float = 0.0, cmn: bool = False) -> CnnEca:
    """S0 Table 5's "MHA": ``heads`` heads (S0 does not say how many; 4 is our choice) where ECA goes."""
    return _attention_cnn("mha", num_classes, n, attention_blocks, heads, dropout, cmn)


@register_model(
    CNN_HF_SPEC,
    demo={"n": 1},
)
def cnn_hf(num_classes: int, *, n: int = 4, attention_blocks: tuple[int, ...] = (5, 6), heads: int = 4,
           dropout: float = 0.0, cmn: bool = False) -> CnnEca:
    """S0 Table 5's "Head-fusion" (Xu et al. 2021) where ECA goes; 4 heads is our choice (S0 gives none)."""
    return _attention_cnn("head-fusion", num_classes, n, attention_blocks, heads, dropout, cmn)


@register_model(
    CNN_AREA_SPEC,
    demo={"n": 1},
)
def cnn_area(num_classes: int, *, n: int = 4, attention_blocks: tuple[int, ...] = (5, 6), heads: int = 4,
             max_area: tuple[int, int] = (3, 3), dropout: float = 0.0, cmn: bool = False) -> CnnEca:
    """S0 Table 5's "Area Attention" (Xu et al. 2021): areas up to ``max_area`` (bands, frames) positions of the
    map, ``heads`` heads. S0 gives neither; 4 heads and areas up to 3 x 3 are our choice."""
    return _attention_cnn("area", num_classes, n, attention_blocks, heads, dropout, cmn, max_area)
