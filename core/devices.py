"""Device selection shared by every entry point: ``device="auto"`` means CUDA when present."""

from __future__ import annotations

import torch

from core.errors import ConfigError


def resolve(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ... into a usable ``torch.device``."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"Unknown device '{device}'. Use 'auto', 'cpu' or 'cuda[:N]'.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"Device '{device}' was asked for but no CUDA GPU is available here; use 'cpu' or 'auto'.")
    return resolved
