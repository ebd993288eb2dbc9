"""S1's baseline: a hybrid of CNN and LSTM (CNN-LSTM) over the log-mel (Kim, Truong, Englebienne, Evers, ACII 2017).

S1 compares its 3D CNN with "a hybrid of Convolutional Neural Network and Long-Short-Term-Memory (CNN-LSTM)"; the
text we have (the abstract) gives none of its layers, so this is the standard 2D CNN-LSTM of Zhao, Mao & Chen
("Speech emotion recognition using deep 1D & 2D CNN LSTM networks", Biomed. Signal Process. Control 2019):
local feature learning blocks of 3x3 conv + BatchNorm + ELU + max-pooling over the (bands x frames) image, then an
LSTM over the pooled time steps, then a Linear to the classes. The four blocks' channels (64, 64, 128, 128) are
Zhao et al.'s; the 2x2 pool of every block (theirs: 2, then 4, 4, 4, which would leave a 3 s clip 3 LSTM steps)
and the LSTM width (256) are our choices.

Input ``(B, 64 bands, frames)`` -> ``(B, 1, bands, frames)`` (bands are image rows, as in S0's CNN). The pools use
``ceil_mode``, so any clip of one frame or more works and the last block's step ``s`` covers frames
``[s * stride, (s + 1) * stride)`` with ``stride = pool ** blocks``. Each step's ``channels x rows`` column is one
LSTM input; ``summary`` "last" (Zhao et al.) or "mean" of the LSTM's outputs is the embedding (``embed``; t-SNE).
Grad-CAM hooks the last conv block (``blocks.<n-1>``).
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import nn

from core.models.base import SerModel
from core.models.checks import check_choice, check_float, check_int, check_ints
from core.models.layers import ClassifierHead, he_init, run_lstm, upsample_2d
from core.models.registry import register_model
from core.models.spec import ModelSpec

SUMMARIES = ("last", "mean")

CNN_LSTM_SPEC = ModelSpec(
    name="cnn-lstm", paper="S1", input_kind="log-mel", feature_preset="stft-v3",
    cam_layers=("blocks.3",), eca_taps=(), has_attention=False, min_frames=1,
    description="S1 (Kim et al., ACII 2017) baseline: CNN-LSTM, 2D conv blocks (BN, ELU, max-pool) over the "
    "log-mel, an LSTM over time, last state, classes (layers after Zhao et al. 2019; S1 gives none)",
)


class ConvBlock2d(nn.Module):
    """conv 3x3 -> BN -> ELU -> max-pool (ceil mode): Zhao et al.'s local feature learning block."""

    def __init__(self, in_ch: int, out_ch: int, pool: int):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.bn = nn.BatchNorm2d(out_ch)
        self.act = nn.ELU()
        self.pool = nn.MaxPool2d(pool, ceil_mode=True) if pool > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(self.bn(self.conv(x))))


class CnnLstm(SerModel):
    default_spec = CNN_LSTM_SPEC
    bands = 64

    def __init__(self, num_classes: int, channels: tuple[int, ...], pool: int, hidden: int, summary: str,
                 dropout: float):
        super().__init__()
        blocks, in_ch = [], 1
        for c in channels:
            blocks.append(ConvBlock2d(in_ch, c, pool))
            in_ch = c
        self.blocks = nn.Sequential(*blocks)
        self.stride = pool ** len(channels)
        rows = self.bands
        for _ in channels:
            rows = math.ceil(rows / pool)
        self.lstm = nn.LSTM(in_ch * rows, hidden, batch_first=True)
        self.summary = summary
        self.head = ClassifierHead(hidden, num_classes, dropout=dropout)
        self.num_features = hidden
        he_init(self.blocks)

    def adapt_spec(self, spec: ModelSpec) -> ModelSpec:
        return replace(spec, cam_layers=(f"blocks.{len(self.blocks) - 1}",))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last conv block's map ``(B, C, rows, steps)``, ``steps = ceil(frames / stride)``."""
        return self.blocks(self._check_input(x)[:, None])

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        seq = features.flatten(1, 2).transpose(1, 2)  # (B, steps, C * rows)
        out, _ = run_lstm(self.lstm, seq, self.training)
        state = out[:, -1] if self.summary == "last" else out.mean(dim=1)
        return self.head(state, pre_logits=pre_logits)

    def cam_to_grid(self, cam: torch.Tensor, n_frames: int) -> torch.Tensor:
        """``cam`` ``(B, rows, steps)`` of the last block -> ``(B, bands, n_frames)``: each cell covers
        ``stride x stride`` input cells (the ceil-mode pools' tail cell included), so the map is resized
        bilinearly to ``(rows * stride, steps * stride)`` and cropped to the grid."""
        rows, steps = cam.shape[-2:]
        return upsample_2d(cam, (rows * self.stride, steps * self.stride))[:, :self.bands, :n_frames]


@register_model(CNN_LSTM_SPEC, demo={"channels": (8, 8, 16, 16), "hidden": 16})
def cnn_lstm(num_classes: int, *, channels: tuple[int, ...] = (64, 64, 128, 128), pool: int = 2, hidden: int = 256,
             summary: str = "last", dropout: float = 0.0) -> CnnLstm:
    """``channels``: one conv block per entry (Zhao et al.'s 64, 64, 128, 128); ``pool``: every block's max-pool;
    ``hidden``: the LSTM's width; ``summary``: the LSTM output the head reads, the last step's or the mean."""
    return CnnLstm(num_classes, check_ints("channels", channels), check_int("pool", pool), check_int("hidden", hidden),
                   check_choice("summary", summary, SUMMARIES), check_float("dropout", dropout, 0.0, 1.0))
