"""Efficient channel attention (Wang et al., ECA-Net, CVPR 2020) as S0 uses it.

S0 (Kim & Kwon, arXiv 2409.04007): global average pooling -> Conv1d(1, 1, k) across channels
without bias and with "same" padding -> sigmoid -> rescale the input channels. There is **no**
BatchNorm inside, so the module holds exactly ``k`` weights.

The sigmoid is the submodule ``gate``: a forward hook on ``<eca>.gate`` receives the channel
weights ``(B, C, 1, 1)`` (``(B, C, 1)`` for 1D maps, ``(B, C, 1, 1, 1)`` for 3D) of each call,
which is how ``core.explain`` reads them without the module keeping any state.
"""

from __future__ import annotations

import torch
from torch import nn

from core.models.checks import check_int


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
