"""What "removed" means on a log-mel grid, shared by occlusion, LIME and the deletion metrics.

- ``silence``: the spectrogram's floor (its minimum), i.e. the quietest thing in the clip;
- ``mean``: each band's mean over time, which removes temporal structure but keeps timbre;
- ``noise``: Gaussian noise with each band's mean and spread (seeded, so reruns agree).
"""

from __future__ import annotations

import torch

from core.errors import ConfigError

BASELINES = ("silence", "mean", "noise")


def baseline(features: torch.Tensor, kind: str = "silence", *, seed: int = 0) -> torch.Tensor:
    """A tensor shaped like ``features`` ``(bands, frames)`` to put in place of removed cells."""
    if kind == "silence":
        return torch.full_like(features, float(features.min()))
    if kind == "mean":
        return features.mean(dim=-1, keepdim=True).expand_as(features).clone()
    if kind == "noise":
        generator = torch.Generator(device="cpu").manual_seed(seed)
        noise = torch.randn(features.shape, generator=generator).to(features.device, features.dtype)
        return features.mean(-1, keepdim=True) + features.std(-1, keepdim=True) * noise
    raise ConfigError(f"Unknown baseline '{kind}'. Choose one of: {', '.join(BASELINES)}.")
