"""Unsupervised pre-training before the supervised epochs, for models that have it (S2's DBN: ``pretrain``).

The training loop calls ``pretrain_stage`` once, after restoring a checkpoint: a model with a ``pretrain(batches,
progress)`` method that is not yet pre-trained (``is_pretrained``) is pre-trained on the training items' feature
batches; any other model is left alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import nn


def pretrain_stage(model: nn.Module, batcher: Callable[[torch.Tensor], torch.Tensor], items: torch.Tensor, *,
                   batch_size: int, seed: int, resumed_from: Path | None, progress: bool) -> dict | None:
    """Pre-train ``model`` before its supervised epochs if it has ``pretrain`` and has not been pre-trained.

    ``batcher(items[chosen])`` gives feature batches; each pre-training epoch shuffles the items with a generator
    seeded from ``(seed, epoch)`` and the global RNG (CD sampling, augmentation) is seeded from ``seed``, so a run
    pre-trains the same way every time. A resumed run's model comes from its checkpoint, already pre-trained:
    it is not pre-trained again and the record is the checkpoint card's. Returns the record, or None."""
    if not hasattr(model, "pretrain"):
        return None
    if getattr(model, "is_pretrained", False):
        if resumed_from is None:
            return None
        from core.checkpoint import read_card

        return (read_card(resumed_from).training or {}).get("pretraining")
    torch.manual_seed(seed * 1_000_003 + 4_242)

    def batches(epoch: int):
        order = torch.randperm(len(items), generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        for start in range(0, len(order), batch_size):
            yield batcher(items[order[start:start + batch_size]])

    return model.pretrain(batches, progress=progress)
