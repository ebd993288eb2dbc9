"""What "removed" means on a log-mel grid, shared by occlusion, LIME and the deletion metrics.

- ``silence``: the spectrogram's floor (its minimum), i.e. the quietest thing in the clip;
- ``mean``: each band's mean over time, which removes temporal structure but keeps timbre;
- ``noise``: Gaussian noise with each band's mean and spread (seeded, so reruns agree);
- ``floor``: the clip's own background, the mean of its quietest tenth of frames in every band, so a removed
  cell looks like the recording's pauses. For a zero-padded clip that is the padding's value; for a real
  recording it keeps the room's noise spectrum, where ``silence`` puts a flat level no recording has.
"""

from __future__ import annotations

import torch

from core.errors import ConfigError

BASELINES = ("silence", "mean", "noise", "floor")
#: What occlusion and LIME may be told to remove with: a baseline, or "auto", what the model was trained to see
#: as "nothing here": ``floor`` for a model padded with its clips' noise floor, ``silence`` for a zero-padded one.
REMOVALS = ("auto",) + BASELINES
REMOVAL_HELP = ("What a removed cell becomes. auto: what the model was trained to see as 'nothing' (the clip's own "
                "background for models padded with their noise floor, the spectrogram's minimum for zero-padded "
                "ones); floor: the clip's quietest tenth of frames; silence: the minimum; mean/noise: each band's "
                "mean / noise around it.")
FLOOR_QUANTILE = 0.1  # share of the quietest frames that make the ``floor`` baseline


def removal_for(kind: str, padding: str) -> str:
    """The baseline a method's ``kind`` (one of ``REMOVALS``) stands for, for a model trained with ``padding``."""
    if kind == "auto":
        return "floor" if padding == "noise-floor" else "silence"
    return kind


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
    if kind == "floor":
        loudness = features.mean(dim=0)  # log-mel: the frame's level; MFCCs: dominated by c0, the log energy
        quiet = loudness.argsort()[: max(1, int(round(FLOOR_QUANTILE * features.shape[-1])))]
        return features[:, quiet].mean(dim=-1, keepdim=True).expand_as(features).clone()
    raise ConfigError(f"Unknown baseline '{kind}'. Choose one of: {', '.join(BASELINES)}.")
