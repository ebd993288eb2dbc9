"""Speaker-adaptive batch normalisation: each unseen speaker's clips predicted with BatchNorm statistics of that
speaker's own clips (AdaBN; Li et al. 2016, "Revisiting batch normalization for practical domain adaptation").

A BatchNorm layer normalises with the mean and variance it saw in training: the training speakers' voices. For a
new speaker those statistics are off by the speaker's own pitch, timbre, level and channel, the very differences
a speaker-independent model must ignore. AdaBN replaces them, layer by layer, with the statistics of the new
speaker's unlabelled clips, so every layer sees its input relative to that speaker: the network analogue of
standardising each speaker's features by that speaker (``serwb baseline egemaps --speaker-norm``). Labels are never
used, and nothing is trained; the model is copied, so the shipped weights and any other caller are untouched.

It needs several clips of the speaker (a corpus, not one upload), and those clips should span the emotions, as a
corpus's do: statistics of a speaker who is angry in every clip would normalise the anger away. And it needs a model
with BatchNorm layers. A model trained with ``speaker_batches`` (each training batch one speaker's clips,
``core.training.loop``) saw per-speaker statistics in every training step too, so train and test normalise alike.
"""

from __future__ import annotations

import copy
from typing import Mapping, Sequence

import torch

from core import devices
from core.errors import ConfigError
from core.features import FeatureConfig, frontend

MIN_CLIPS = 8  # fewer clips of a speaker give statistics too noisy to normalise by
METHOD = "AdaBN: BatchNorm statistics of each speaker's own clips (labels unused)"
_BATCHNORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d, torch.nn.SyncBatchNorm)


def batchnorms(model: torch.nn.Module) -> list[torch.nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer of ``model`` that keeps running statistics."""
    return [m for m in model.modules() if isinstance(m, _BATCHNORMS) and m.track_running_stats]


@torch.no_grad()
def adapted(model: torch.nn.Module, inputs: Sequence[torch.Tensor]) -> torch.nn.Module:
    """A copy of ``model`` in eval mode whose BatchNorm statistics are those of ``inputs`` (feature batches of one
    speaker). Layers are adapted one at a time, in order: each layer's statistics are the average over every batch
    (``momentum=None``) of its input as the already adapted layers before it produce that input in eval mode, so
    the adapted model, run in eval mode, normalises each layer's input on these clips to mean 0 and variance 1."""
    if not batchnorms(model):
        raise ConfigError(
            f"{type(model).__name__} has no BatchNorm layer, so speaker adaptation (AdaBN) has nothing to adapt; "
            "evaluate it without adapting to speakers."
        )
    clone = copy.deepcopy(model).eval()
    for layer in batchnorms(clone):
        layer.reset_running_stats()
        layer.momentum = None
        layer.train()
        for x in inputs:
            clone(x)
        layer.eval()
    return clone


def adapts(card) -> bool:
    """Whether ``card``'s model was trained for speaker adaptation (``speaker_batches``): ``evaluate`` then adapts."""
    return bool(((card.training or {}) if card is not None else {}).get("speaker_batches"))


@torch.no_grad()
def speaker_models(model: torch.nn.Module, waves: torch.Tensor, speakers: Sequence[str], features: FeatureConfig, *,
                   device: str | torch.device = "auto", batch_size: int = 36,
                   min_clips: int = MIN_CLIPS) -> dict[str, torch.nn.Module]:
    """``{speaker: model adapted to that speaker's clips}`` for fixed-length ``waves`` (the model's own length and
    padding, as ``core.training.loop.decode`` gives them) of ``speakers``. A speaker with fewer than ``min_clips``
    clips has too few to estimate statistics from, and clips of no named speaker ("unknown") have no speaker to
    adapt to: neither gets a model here, and their clips are for ``model`` as trained."""
    if len(speakers) != len(waves):
        raise ValueError(f"{len(speakers)} speakers for {len(waves)} clips")
    target = devices.resolve(device)
    front = frontend(features, target)
    found = {}
    for speaker in sorted(set(speakers) - {"unknown"}):
        index = torch.tensor([i for i, s in enumerate(speakers) if s == speaker])
        if len(index) >= min_clips:
            found[speaker] = adapted(model, [front(waves[chunk].to(target)) for chunk in index.split(batch_size)])
    return found


def report(speakers: Sequence[str], adapted_to: Mapping[str, torch.nn.Module], min_clips: int = MIN_CLIPS) -> dict:
    """What adaptation did: ``{"method", "min_clips", "speakers": {speaker: clips}, "unadapted": {speaker: clips}}``."""
    counts = {s: list(speakers).count(s) for s in sorted(set(speakers))}
    return {"method": METHOD, "min_clips": min_clips, "speakers": counts,
            "unadapted": {s: n for s, n in counts.items() if s not in adapted_to}}


@torch.no_grad()
def predict_per_speaker(model: torch.nn.Module, waves: torch.Tensor, speakers: Sequence[str], features: FeatureConfig,
                        *, device: str | torch.device = "auto", batch_size: int = 36,
                        min_clips: int = MIN_CLIPS) -> tuple[torch.Tensor, dict]:
    """(logits ``(N, C)`` (CPU), ``report``) for fixed-length ``waves``: each speaker's clips predicted by
    ``model`` adapted to that speaker (``speaker_models``), the rest by ``model`` as trained (in eval mode)."""
    models = speaker_models(model, waves, speakers, features, device=device, batch_size=batch_size,
                            min_clips=min_clips)
    target = devices.resolve(device)
    front = frontend(features, target)
    trained = copy.deepcopy(model).eval()
    out = None
    for speaker in sorted(set(speakers)):
        index = torch.tensor([i for i, s in enumerate(speakers) if s == speaker])
        chosen = models.get(speaker, trained)
        logits = torch.cat([chosen(front(waves[chunk].to(target))).float().cpu() for chunk in index.split(batch_size)])
        out = torch.empty(len(waves), logits.shape[1]) if out is None else out
        out[index] = logits
    return (out if out is not None else torch.empty(0, 0)), report(speakers, models, min_clips)
