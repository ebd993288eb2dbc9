"""Building blocks shared by the models: the classifier head, initialisation, padding, resizing, strict
loading of pretrained trunks and the width multiplier."""

from __future__ import annotations

import threading
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import CheckpointError


class ClassifierHead(nn.Module):
    """``[Linear(in, hidden) -> ReLU] -> Dropout -> Linear(., classes)``; ``hidden=0`` skips the first.

    ``forward(x, pre_logits=True)`` returns the vector the last Linear sees (the embedding).
    """

    def __init__(self, in_features: int, num_classes: int, hidden: int = 0, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden) if hidden else None
        self.act = nn.ReLU() if hidden else None
        self.drop = nn.Dropout(dropout)
        self.num_features = hidden or in_features
        self.fc = nn.Linear(self.num_features, num_classes)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.fc1 is not None:
            x = self.act(self.fc1(x))
        x = self.drop(x)
        return x if pre_logits else self.fc(x)


def pad_frames(x: torch.Tensor, min_frames: int) -> torch.Tensor:
    """Pad ``(..., bands, T)`` at the tail to ``min_frames`` with each clip's minimum (its silence floor),
    as ``core.features.patches`` pads."""
    missing = min_frames - x.shape[-1]
    if missing <= 0:
        return x
    floor = x.amin(dim=(-2, -1), keepdim=True).expand(*x.shape[:-1], missing)
    return torch.cat([x, floor], dim=-1)


def he_init(module: nn.Module) -> None:
    """He (kaiming) normal init of every Conv/Linear weight (fan-in, ReLU gain), zero biases; BN to 1/0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def upsample_2d(cam: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(N, h, w)`` to ``(N, *size)``."""
    return F.interpolate(cam[:, None].float(), size=size, mode="bilinear", align_corners=False)[:, 0]


def load_trunk_strict(model: nn.Module, keys: Sequence[str], state_dict: Mapping[str, torch.Tensor], what: str) -> None:
    """Load ``state_dict`` into the ``keys`` part of ``model`` strictly: exactly those names, same shapes."""
    missing = sorted(set(keys) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(keys))
    if missing or unexpected:
        raise CheckpointError(
            f"These {what} weights do not match the model: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}. Build the model with the "
            "weights' width (and embeddings setting) and pass only the trunk's tensors."
        )
    own = model.state_dict()
    wrong = [f"{k}: {tuple(state_dict[k].shape)} != {tuple(own[k].shape)}"
             for k in keys if state_dict[k].shape != own[k].shape]
    if wrong:
        raise CheckpointError(
            f"These {what} weights have other shapes than the model: {wrong[:5]}; check the width setting."
        )
    model.load_state_dict(dict(state_dict), strict=False)  # the key sets were checked above


def scaled(channels: int, width: float) -> int:
    """Channel count ``channels * width`` rounded, at least 1 (timm-style width multiplier)."""
    return max(1, int(round(channels * width)))


# cuDNN's LSTM has no backward in eval mode; gradients through an eval-mode model on CUDA (Grad-CAM, Integrated
# Gradients, SmoothGrad) need the native kernel. The switch is process-wide, so it is flipped under a lock and
# only for that call.
_NATIVE_LSTM = threading.Lock()


def run_lstm(lstm: nn.Module, seq: torch.Tensor, training: bool):
    """``lstm(seq)``; by the native kernel when gradients are wanted from an eval-mode model on CUDA."""
    if not (seq.is_cuda and torch.is_grad_enabled() and not training):
        return lstm(seq)
    with _NATIVE_LSTM:  # (cudnn.flags() would reset its other flags to their defaults as well)
        was, torch.backends.cudnn.enabled = torch.backends.cudnn.enabled, False
        try:
            return lstm(seq)
        finally:
            torch.backends.cudnn.enabled = was
