"""YAMNet (tensorflow/models research/audioset/yamnet/yamnet.py) as S3 uses it: MobileNetV1 on patches.

``YAMNET_LAYER_DEFS`` mirrors ``_YAMNET_LAYER_DEFS``: a 3x3 stride-2 conv with 32 filters, then 13
depthwise-separable blocks. Every conv is bias-free, uses TF "SAME" padding (output =
ceil(in / stride); for stride 2 the odd extra row/column goes at the bottom/right) and is
followed by BatchNorm (eps 1e-4, ``center=True, scale=False``) and ReLU.

Names follow the common PyTorch port (w-hc/torch_audioset): ``layer1.fused.{conv,bn}``,
``layer{2..14}.{depthwise_conv,pointwise_conv}.{conv,bn}``. That port keeps a BatchNorm
``weight`` fixed at 1 for TF's missing scale; here it is a *frozen* parameter (requires_grad
False, always 1) so the port's state dict loads with ``strict=True`` while the scale stays out of
training. Input patch ``(N, 1, 96 frames, 64 bands)``; 96x64 -> layer1 48x32 -> layer3 24x16
-> layer5 12x8 -> layer7 6x4 -> layer13 3x2 x 1024.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from core.features import PRESETS
from core.models.base import PatchModel
from core.models.checks import check_float, check_int
from core.models.layers import ClassifierHead, load_trunk_strict, scaled
from core.models.registry import register_model
from core.models.spec import ModelSpec

# yamnet/params.py
YAMNET_BATCHNORM_EPSILON = 1e-4


@dataclass(frozen=True)
class YamnetLayerDef:
    kind: str  # "conv" (full 3x3 conv) or "separable" (depthwise 3x3 + pointwise 1x1)
    kernel: int
    stride: int
    filters: int


# yamnet.py _YAMNET_LAYER_DEFS
YAMNET_LAYER_DEFS: tuple[YamnetLayerDef, ...] = (
    YamnetLayerDef("conv", 3, 2, 32),
    YamnetLayerDef("separable", 3, 1, 64),
    YamnetLayerDef("separable", 3, 2, 128),
    YamnetLayerDef("separable", 3, 1, 128),
    YamnetLayerDef("separable", 3, 2, 256),
    YamnetLayerDef("separable", 3, 1, 256),
    YamnetLayerDef("separable", 3, 2, 512),
    YamnetLayerDef("separable", 3, 1, 512),
    YamnetLayerDef("separable", 3, 1, 512),
    YamnetLayerDef("separable", 3, 1, 512),
    YamnetLayerDef("separable", 3, 1, 512),
    YamnetLayerDef("separable", 3, 1, 512),
    YamnetLayerDef("separable", 3, 2, 1024),
    YamnetLayerDef("separable", 3, 1, 1024),
)


class Conv2dSame(nn.Conv2d):
    """Conv2d with TF "SAME" padding: output = ceil(in / stride), the odd extra pad at the end."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(in_ch, out_ch, kernel, stride=stride, padding=0, groups=groups, bias=False)

    @staticmethod
    def _pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
        out = -(-size // stride)
        total = max(0, (out - 1) * stride + kernel - size)
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = self._pads(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = self._pads(x.shape[-1], self.kernel_size[1], self.stride[1])
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


class BatchNormNoScale(nn.BatchNorm2d):
    """BatchNorm2d with TF's ``scale=False``: ``weight`` is a frozen parameter fixed at 1 (kept so the
    port's names load), ``bias`` (TF's beta) is learnt."""

    def __init__(self, channels: int, eps: float = YAMNET_BATCHNORM_EPSILON):
        super().__init__(channels, eps=eps, affine=True)
        self.weight.requires_grad_(False)


class ConvBnRelu(nn.Module):
    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.conv = conv
        self.bn = BatchNormNoScale(conv.out_channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class YamnetConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int):
        super().__init__()
        self.fused = ConvBnRelu(Conv2dSame(in_ch, out_ch, kernel, stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fused(x)


class YamnetSeparableConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int):
        super().__init__()
        self.depthwise_conv = ConvBnRelu(Conv2dSame(in_ch, in_ch, kernel, stride, groups=in_ch))
        self.pointwise_conv = ConvBnRelu(Conv2dSame(in_ch, out_ch, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_conv(self.depthwise_conv(x))


_LAYER_TYPES = {"conv": YamnetConv, "separable": YamnetSeparableConv}


def _add_layers(module: nn.Module, width: float, n_layers: int) -> int:
    """Add ``layer1..layer{n_layers}`` to ``module``; returns the last layer's channels."""
    in_ch = 1
    for i, d in enumerate(YAMNET_LAYER_DEFS[:n_layers], start=1):
        out_ch = scaled(d.filters, width)
        module.add_module(f"layer{i}", _LAYER_TYPES[d.kind](in_ch, out_ch, d.kernel, d.stride))
        in_ch = out_ch
    return in_ch


class YAMNetTrunk(nn.Module):
    """``layer1..layer{n_layers}`` with the port's names; input ``(N, 1, 96, 64)``."""

    def __init__(self, width: float = 1.0, n_layers: int = len(YAMNET_LAYER_DEFS)):
        super().__init__()
        self.n_layers = n_layers
        self.out_channels = _add_layers(self, width, n_layers)

    def taps(self, x: torch.Tensor, layers: tuple[int, ...]) -> list[torch.Tensor]:
        """Outputs of ``layer{i}`` for each ``i`` in ``layers`` (1-based, as the TF names)."""
        wanted, out = set(layers), {}
        for i in range(1, max(layers) + 1):
            x = getattr(self, f"layer{i}")(x)
            if i in wanted:
                out[i] = x
        return [out[i] for i in layers]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.taps(x, (self.n_layers,))[0]


YAMNET_SPEC = ModelSpec(
    name="yamnet", paper="S3", input_kind="patch", feature_preset="yamnet",
    cam_layers=("layer14",), eca_taps=(), has_attention=False, min_frames=1,
    description="S3 (Kim & Kwak, Appl. Sci. 2024) YAMNet branch alone: MobileNetV1 on 96x64 patches, "
    "GAP, classifier head, clip = mean of patch logits",
)


class YAMNetClassifier(PatchModel):
    """YAMNet layers (directly on the model, port names) + GAP + classifier head; clip = mean of patches."""

    default_spec = YAMNET_SPEC

    def __init__(self, num_classes: int, width: float, hidden: int, dropout: float, patch_hop: int):
        super().__init__()
        self.patch_hop = patch_hop
        self.n_layers = len(YAMNET_LAYER_DEFS)
        channels = _add_layers(self, width, self.n_layers)
        self.trunk_keys = tuple(self.state_dict())
        self.head = ClassifierHead(channels, num_classes, hidden=hidden, dropout=dropout)
        self.num_features = self.head.num_features

    def patch_trunk(self, x: torch.Tensor) -> torch.Tensor:
        """layer14 maps ``(B * P, C, 3, 2)`` (rows = frames / 32, columns = bands / 32)."""
        for i in range(1, self.n_layers + 1):
            x = getattr(self, f"layer{i}")(x)
        return x

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        b, p = features.shape[:2]
        emb = self.head(features.mean(dim=(3, 4)).flatten(0, 1), pre_logits=True).reshape(b, p, -1).mean(1)
        return emb if pre_logits else self.head.fc(emb)

    def load_reference(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Load the port's ``layer*`` tensors strictly (drop its 521-class ``classifier.*`` first)."""
        load_trunk_strict(self, self.trunk_keys, state_dict, "YAMNet")


@register_model(
    YAMNET_SPEC,
    demo={"width": 0.25, "hidden": 64},
)
def yamnet(num_classes: int, *, width: float = 1.0, hidden: int = 256, dropout: float = 0.3,
           patch_hop: int = PRESETS["yamnet"].patch_hop_frames) -> YAMNetClassifier:
    return YAMNetClassifier(
        num_classes,
        width=check_float("width", width, 0.0, 4.0, low_open=True),
        hidden=check_int("hidden", hidden, minimum=0),
        dropout=check_float("dropout", dropout, 0.0, 1.0),
        patch_hop=check_int("patch_hop", patch_hop),
    )
