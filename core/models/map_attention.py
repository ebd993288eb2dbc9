"""Self-attention over the positions of a conv map: S0's Table 5 alternatives to ECA inside the same CNN.

S0 (Kim & Kwon) compares ECA with other "CNN-based attention methods" adopted in its CNN (Table 5: Head-fusion,
Area Attention, STC, MHA, ECA). The text does not define the modules; three are reproduced here from their own
papers and code, each as a residual block ``x + attention(x)`` on a ``(B, C, H, W)`` map (bands x frames), put where
ECA goes (after blocks 5 and 6):

* ``MapSelfAttention``: multi-head scaled dot-product self-attention (Vaswani et al. 2017, S0's ref. 60) with
  torch's ``nn.MultiheadAttention``, every position of the map a token.
* ``AreaAttention``: multiscale area attention (Xu et al., ICASSP 2021, S0's ref. 31; tensor2tensor's
  ``dot_product_area_attention``): each query attends to every rectangle of up to ``max_area`` positions, the
  rectangle's key the mean of its keys and its value the sum of its values.

* ``HeadFusion``: head fusion (Xu et al., IEEE Access 2021, S0's ref. 54) as the authors' code (lessonxmk/head_fusion,
  ``MACNN``) computes it: per head, 1x1 convolutions give Q, K and V, the head's map is softmax over channels of
  Q ⊙ K, times V, and the heads' maps are fused by averaging (their code concatenates them and global-average-pools
  the result, which is that mean).

STC is not reproduced: its definition is in S0's ref. 33, not in its text.
"""

from __future__ import annotations

import torch
from torch import nn

from core.models.checks import check_int


def _tokens(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, H * W, C)``."""
    return x.flatten(2).transpose(1, 2)


def _map(tokens: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``(B, H * W, C)`` -> the shape of ``like``."""
    return tokens.transpose(1, 2).reshape(like.shape)


class MapSelfAttention(nn.Module):
    """``x + MHA(x, x, x)`` over the map's positions (``heads`` heads of ``C / heads`` channels each)."""

    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        heads = check_int("heads", heads)
        if channels % heads:
            raise ValueError(f"{channels} channels do not split into {heads} heads")
        self.attention = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = _tokens(x)
        out, _ = self.attention(tokens, tokens, tokens, need_weights=False)
        return x + _map(out, x)


def area_features(x: torch.Tensor, max_height: int, max_width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every rectangle of ``h <= max_height`` by ``w <= max_width`` positions of ``x`` ``(B, D, H, W)``: the mean
    and the sum of its vectors, ``(B, areas, D)`` each, shapes in order (1x1, 1x2, ..., then positions row by row).
    Shapes larger than the map are skipped."""
    means, sums = [], []
    for h in range(1, min(max_height, x.shape[-2]) + 1):
        for w in range(1, min(max_width, x.shape[-1]) + 1):
            mean = nn.functional.avg_pool2d(x, (h, w), stride=1)
            means.append(_tokens(mean))
            sums.append(_tokens(mean * (h * w)))
    return torch.cat(means, dim=1), torch.cat(sums, dim=1)


class AreaAttention(nn.Module):
    """``x + W_o · area-attention(W_q x, W_k x, W_v x)``: ``heads`` heads; queries are the map's positions, keys
    and values its areas up to ``max_area`` = (bands, frames) positions (``area_features``)."""

    def __init__(self, channels: int, heads: int = 4, max_area: tuple[int, int] = (3, 3)):
        super().__init__()
        self.heads = check_int("heads", heads)
        if channels % heads:
            raise ValueError(f"{channels} channels do not split into {heads} heads")
        self.max_area = (check_int("area height", max_area[0]), check_int("area width", max_area[1]))
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, height, width = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=1)
        split = lambda t: t.reshape(b * self.heads, c // self.heads, *t.shape[-2:])  # noqa: E731
        keys, _ = area_features(split(k), *self.max_area)
        _, values = area_features(split(v), *self.max_area)
        queries = _tokens(split(q))  # (B * heads, H * W, d)
        out = nn.functional.scaled_dot_product_attention(queries, keys, values)
        out = out.transpose(1, 2).reshape(b, c, height, width)
        return x + self.out(out)

    def extra_repr(self) -> str:
        return f"heads={self.heads}, max_area={self.max_area}"


class HeadFusion(nn.Module):
    """``x + mean over heads of softmax_channels(Q_h ⊙ K_h) ⊙ V_h``, each of Q, K, V a 1x1 convolution to the map's
    ``C`` channels (the authors' code: 8 heads of 256 channels before global pooling; here 4 heads of ``C``, so the
    block keeps the map's shape)."""

    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        self.heads = check_int("heads", heads)
        self.qkv = nn.Conv2d(channels, 3 * heads * channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, height, width = x.shape
        q, k, v = self.qkv(x).reshape(b, 3, self.heads, c, height, width).unbind(1)
        return x + (torch.softmax(q * k, dim=2) * v).mean(dim=1)

    def extra_repr(self) -> str:
        return f"heads={self.heads}"
