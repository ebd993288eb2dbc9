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


def for_model(model: torch.nn.Module, device: str | torch.device = "auto") -> torch.device:
    """Where work with ``model`` runs: its own device. A shared model is never moved by a call, so
    ``"auto"`` means "where the model is", and any other device must be that one."""
    where = next(model.parameters()).device
    if isinstance(device, str) and device == "auto":
        return where
    wanted = resolve(device)
    if wanted.type != where.type or (wanted.index or 0) != (where.index or 0):
        raise ConfigError(f"The model is on {where} but this work was asked to run on {wanted}. Load the checkpoint "
                          f"there (core.checkpoint.load(path, device='{wanted}')) or pass device='auto'.")
    return where
