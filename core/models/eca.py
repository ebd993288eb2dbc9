"""Efficient channel attention (Wang et al., ECA-Net, CVPR 2020) as S0 uses it.

S0 (Kim & Kwon, arXiv 2409.04007): global average pooling -> Conv1d(1, 1, k) across channels
without bias and with "same" padding -> sigmoid -> rescale the input channels. There is **no**
BatchNorm inside, so the module holds exactly ``k`` weights.

The sigmoid is the submodule ``gate``: a forward hook on ``<eca>.gate`` receives the channel
weights ``(B, C, 1, 1)`` (``(B, C, 1)`` for 1D maps, ``(B, C, 1, 1, 1)`` for 3D) of each call,
which is how ``core.explain`` reads them without the module keeping any state.

``eca_kernel_size(C)`` is ECA-Net's adaptive kernel size, what S0's "original ECA" baseline uses.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from core.models.checks import check_int


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """ECA-Net's kernel size for ``channels`` channels: ``k = |log2(C) / gamma + b / gamma|_odd``, the odd number
    nearest to ``t`` (ties up), written as ECA-Net's code does it: ``int(t)``, plus one when even. ECA-Net (Wang et
    al., CVPR 2020) uses ``gamma = 2``, ``b = 1``: 8-127 channels -> 3, 128-2047 -> 5, 2048 -> 7."""
    check_int("channels", channels)
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


class ECA(nn.Module):
    """GAP -> Conv1d(1, 1, k, bias=False, padding='same') -> sigmoid (``gate``) -> ``x * gate``."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.kernel_size = check_int("eca_kernel", kernel_size)
        self.conv = nn.Conv1d(1, 1, self.kernel_size, padding="same", bias=False)
        self.gate = nn.Sigmoid()

    def channel_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The pre-sigmoid channel scores ``(B, C)`` of a map ``(B, C, *spatial)``."""
        pooled = x.mean(dim=tuple(range(2, x.dim())))  # (B, C)
        return self.conv(pooled[:, None, :])[:, 0, :]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.channel_logits(x).reshape(*x.shape[:2], *([1] * (x.dim() - 2)))
        return x * self.gate(scores)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}"
