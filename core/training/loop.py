"""The training loop: decode once, features on the device per batch, Adam + LR decay, focal loss.

``fit(train_manifest, TrainConfig(...), out_dir)`` trains one model and writes

* ``out_dir/checkpoints/epoch-NNNN/`` after every epoch, atomically (a temporary folder renamed
  into place, then the pointer file ``checkpoints/LATEST`` replaced with ``os.replace``): the
  model checkpoint (``model.safetensors`` + ``card.json``, loadable with ``core.checkpoint.load``)
  plus the trainer state (``trainer.safetensors`` + ``trainer.json``: optimizer and scheduler
  state, GradScaler state, epoch, history, settings). Only the newest epoch folder is kept.
* ``out_dir/model/``: the final checkpoint, with the training protocol and metrics in its card.

``resume=True`` continues from the newest epoch checkpoint and ends with the same weights as
an uninterrupted run. Randomness is derived, not carried: shuffling uses a generator seeded
with ``(seed, epoch)`` and the global RNG (dropout) is re-seeded with ``(seed, epoch, rank)``
at the start of every epoch, so the checkpoint records those numbers rather than generator
states, and a resumed run (also a multi-process one) draws exactly what the first would have.
On CPU that makes a resumed run bit-identical to an uninterrupted one (tested); on CUDA, cuDNN
and atomics-based kernels are not deterministic unless ``torch.use_deterministic_algorithms``
is on, so a resumed GPU run agrees to rounding, as two uninterrupted GPU runs do. The card's
``training.compute`` (``compute_record``) names the torch build, the device and the CPU threads: a
rerun that matches all three repeats the weights bit for bit, and one on another thread count does
not (float sums are taken in another order).

Under ``torchrun`` the loop trains with DistributedDataParallel; see ``core.training.distributed``
for how the global batch is sharded and what differs from one process (BatchNorm statistics).

Protocols (S0, S3):

* **STFT augmentation** (S0): ``augment=("stft-v1", ..., "stft-v8")`` shows every training
  clip through each listed STFT version per epoch (items = clips x versions); evaluation uses
  ``features`` (one version). All versions must give the same feature shape.
* **Segment training** (S3): patch models train on the 96-frame patches they cut themselves
  (``model.patch_frames`` every ``model.patch_hop``; else the preset's) that carry their clip's label; evaluation feeds whole clips and
  the model's forward averages its logits over patches (clip prediction = mean over segments).
  ``segment_training=None`` turns it on for models whose spec says ``input_kind == "patch"``.
* **Gaussian data selection** (S3): ``gds_threshold=t`` drops training segments whose GDS score
  (``core.data.selection``) is not above ``t``. ``gds_scope="item"`` (the paper's Algorithm 1) scores each clip's
  segments among themselves (z-scores, a clip keeps at least one) and selects the test clips the same way: a
  checkpoint that records it has ``evaluate`` predict each clip as the mean of its kept segments' logits
  (``predict_selected``); ``"emotion"`` (ours) scores within each emotion label, training only. The report gives
  the totals and, per clip, the segments kept.
* **Pretrained trunks** (S3): ``pretrained=(("vggish", path), ("yamnet", path))`` loads the public
  weights (safetensors, ``core.models.pretrained``) right after the model is built, before the
  optimiser exists; the card's training info records the files (path, SHA-256, tensors loaded and
  ignored). A resumed run does not reload them: its checkpoint already holds the weights.

**Speaker batches** (``speaker_batches``): every batch holds one speaker's clips (each speaker's shuffled clips cut
into near-equal batches, the batches of all speakers then shuffled), so BatchNorm normalises by that speaker in every
training step; the card records it, and ``evaluate`` then predicts each test speaker's clips with BatchNorm statistics
of that speaker's unlabelled clips (``core.training.adapt``, AdaBN). A clip on its own (the pages) is predicted with
the trained statistics, and cross-validation reports both figures.

Training-time augmentation (``core.training.augment``, off by default): on the waves, speed perturbation
(``speed``, before each clip is placed at its random offset), synthetic-room reverberation (``reverb``),
white noise (``noise_snr``) and random gain (``gain_db``); vocal-tract-length perturbation (``vtlp``) and SpecAugment frequency/time masks
(``freq_mask``, ``time_mask``, ``masks``) on each training batch's features (patches, for segment
training); evaluation never sees them. They draw from the global RNG that every epoch re-seeds.

Models know nothing of this module (Lightning's and SpeechBrain's split): the loop needs only
``forward(features) -> logits``.
"""

from __future__ import annotations

import math
import shutil
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from core import checkpoint, devices
from core.audio import PADDINGS, shift_within
from core.data.corpora import Manifest
from core.data.dataset import ClipDataset
from core.errors import ConfigError, CorpusError
from core.features import FeatureConfig, frontend, n_patches, num_frames, patches, preset
from core.jsonsafe import plain
from core.training import distributed, metrics
from core.training.adapt import adapts, predict_per_speaker
from core.training.augment import Augmentation
from core.training.pretrain import pretrain_stage
from core.training.losses import class_weights, focal_loss

CHECKPOINTS = "checkpoints"
LATEST = "LATEST"
FINAL = "model"
TRAINER = "trainer"
WAVES_ON_DEVICE_BYTES = 2 << 30  # decoded training waves up to this size live on the GPU
# "step": lr *= lr_decay every lr_step epochs; "exponential" / "linear": from lr to lr_end over the epochs (S2)
LR_SCHEDULES = ("step", "exponential", "linear")


# ----------------------------------------------------------------------------- settings


OPTIMISERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}


@dataclass(frozen=True)
class TrainConfig:
    """How to train one model. Defaults are our tuned demo settings, close to S0 (Adam, batch 36, weighted focal
    loss) but not S0 as published: S0 sets gamma 1 and 100 epochs (``core.presets`` holds each paper's values).
    ``focal_gamma=0`` with ``class_weighted=False`` is plain cross-entropy (S2, S3)."""

    model: str = "cnn-eca"
    model_cfg: Mapping[str, Any] = field(default_factory=dict)  # kwargs for core.models.build
    features: str | None = None  # test-time preset; None: the model's own preset
    augment: tuple[str, ...] = ()  # S0 STFT augmentation: presets to train on (empty: `features`)
    epochs: int = 30
    batch_size: int = 36
    lr: float = 1e-3
    optimiser: str = "adam"  # OPTIMISERS: Adam (every paper), or plain SGD (the package S2's DBN fine-tunes with)
    lr_decay: float = 0.95  # StepLR gamma: lr *= lr_decay every lr_step epochs (1.0: constant)
    lr_step: int = 1
    lr_schedule: str = "step"  # LR_SCHEDULES; "exponential" and "linear" reach lr_end in the last epoch
    lr_end: float | None = None
    weight_decay: float = 0.0
    focal_gamma: float = 2.0
    class_weighted: bool = True  # inverse-frequency class weights in the focal loss (S0)
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"  # "auto": bf16 autocast on CUDA when supported, else fp16 + GradScaler; "off" on CPU
    seconds: float | None = 3.0  # every clip is cropped/padded about its centre to this length (S0); None: the
    # longest training clip, so that no clip is cut (S2's full sequences); the card records the length used
    # core.audio.PADDINGS: "zeros" (S0; older cards) or "noise-floor" (the clip's own background level, and each
    # short training clip at a random offset every epoch), so that no model learns to classify by the padding
    padding: str = "zeros"
    segment_training: bool | None = None  # None: on for patch models (S3)
    gds_threshold: float | None = None  # S3 Gaussian data selection of training segments
    gds_scope: str = "item"  # "item": within each clip, also on test clips (S3's Algorithm 1); "emotion": ours
    workers: int = 0  # decoding processes
    # training-time augmentation (core.training.augment; 0 = off)
    speed: float = 0.0  # speed perturbation factors in [1 - speed, 1 + speed] on a 0.05 grid (Ko et al. 2015: 0.1)
    reverb: float = 0.0  # share of training clips put in a synthetic room (RT60 0.2-0.8 s)
    noise_snr: float = 0.0  # white noise at SNR in [noise_snr, noise_snr + 20] dB
    gain_db: float = 0.0  # random gain in [-gain_db, gain_db] dB
    vtlp: float = 0.0  # VTLP warp factors in [1 - vtlp, 1 + vtlp] (Jaitly & Hinton 2013: 0.1)
    freq_mask: int = 0  # SpecAugment: frequency masks narrower than freq_mask bands
    time_mask: int = 0  # SpecAugment: time masks narrower than time_mask frames
    masks: int = 2  # masks of each kind per training item
    # S3: (branch, path) pairs of public VGGish/YAMNet weights (.safetensors) loaded before training starts
    pretrained: tuple[tuple[str, str], ...] = ()
    # early stopping (needs a validation set, e.g. a held-out *training* speaker): stop once validation UA has not
    # improved for this many epochs and keep the best epoch's weights (0: train every epoch, keep the last)
    patience: int = 0
    # every training batch holds one speaker's clips, so BatchNorm normalises by that speaker in every step; the
    # card then has `evaluate` adapt BatchNorm to each test speaker's clips (core.training.adapt, AdaBN)
    speaker_batches: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_cfg", MappingProxyType(dict(self.model_cfg)))
        augment = (self.augment,) if isinstance(self.augment, str) else tuple(self.augment)
        object.__setattr__(self, "augment", augment)
        object.__setattr__(self, "pretrained", _pretrained_pairs(self.pretrained))
        checks = [
            (isinstance(self.epochs, int) and self.epochs >= 1, f"epochs={self.epochs!r}: use a whole number >= 1."),
            (isinstance(self.batch_size, int) and self.batch_size >= 1, f"batch_size={self.batch_size!r}: use a whole number >= 1."),
            (self.lr > 0, f"lr={self.lr}: use a positive learning rate, e.g. 1e-3."),
            (0 < self.lr_decay <= 1, f"lr_decay={self.lr_decay}: use a factor in (0, 1], e.g. 0.95 (1 keeps the rate)."),
            (isinstance(self.lr_step, int) and self.lr_step >= 1, f"lr_step={self.lr_step!r}: use a whole number of epochs >= 1."),
            (self.weight_decay >= 0, f"weight_decay={self.weight_decay}: use a value >= 0."),
            (self.focal_gamma >= 0, f"focal_gamma={self.focal_gamma}: use a value >= 0 (0 is cross-entropy)."),
            (self.lr_schedule in LR_SCHEDULES, f"lr_schedule={self.lr_schedule!r}: use one of {', '.join(LR_SCHEDULES)}."),
            ((self.lr_end is not None and self.lr_end > 0) == (self.lr_schedule != "step"),
             f"lr_end={self.lr_end}: the {self.lr_schedule} schedule needs a positive final rate, e.g. 1e-4"
             if self.lr_schedule != "step" else f"lr_end={self.lr_end}: the step schedule uses lr_decay, not lr_end."),
            (self.seconds is None or self.seconds > 0,
             f"seconds={self.seconds}: use a positive clip length in seconds (or None: the longest clip)."),
            (self.padding in PADDINGS, f"padding={self.padding!r}: use one of {', '.join(PADDINGS)}."),
            (self.amp in ("auto", "off", "bf16", "fp16"), f"amp={self.amp!r}: use 'auto', 'off', 'bf16' or 'fp16'."),
            (self.optimiser in OPTIMISERS, f"optimiser={self.optimiser!r}: use one of {', '.join(OPTIMISERS)}."),
            (self.gds_scope in ("item", "emotion"),
             f"gds_scope={self.gds_scope!r}: use 'item' (within each clip, S3's Algorithm 1) or 'emotion'."),
            (self.gds_threshold is None or (math.isfinite(self.gds_threshold) if self.gds_scope == "item"
                                            else 0 <= self.gds_threshold < 1),
             f"gds_threshold={self.gds_threshold}: use a z-score (gds_scope 'item', e.g. -1) or a score in [0, 1) "
             "(gds_scope 'emotion', e.g. 0.2), or None to keep every segment."),
            (isinstance(self.workers, int) and self.workers >= 0, f"workers={self.workers!r}: use a whole number >= 0."),
            (isinstance(self.patience, int) and self.patience >= 0,
             f"patience={self.patience!r}: use a whole number of epochs >= 0 (0 turns early stopping off)."),
            (isinstance(self.speaker_batches, bool), f"speaker_batches={self.speaker_batches!r}: use true or false."),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        _ = self.augmentation  # validates the augmentation settings

    @property
    def augmentation(self) -> Augmentation:
        return Augmentation(speed=self.speed, reverb=self.reverb, noise_snr=self.noise_snr, gain_db=self.gain_db,
                            vtlp=self.vtlp, freq_mask=self.freq_mask,
                            time_mask=self.time_mask, masks=self.masks)

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        return data | {"model_cfg": plain(self.model_cfg), "augment": list(self.augment),
                       "pretrained": [list(pair) for pair in self.pretrained]}

    @classmethod
    def from_dict(cls, data: Mapping) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"Unknown training settings {sorted(unknown)}; known ones are {sorted(known)}.")
        return cls(**{k: (tuple(v) if k == "augment" else v) for k, v in data.items()})


def _pretrained_pairs(value: Any) -> tuple[tuple[str, str], ...]:
    """``[("vggish", path), ...]`` (or a ``{branch: path}`` mapping) -> a tuple of (branch, path) string pairs."""
    from core.models.fusion import BRANCHES

    items = value.items() if isinstance(value, Mapping) else value
    try:
        pairs = tuple((str(branch), str(path)) for branch, path in items)
    except (TypeError, ValueError):
        raise ConfigError(f"pretrained={value!r}: use (branch, path) pairs, e.g. (('vggish', 'vggish.safetensors'),).") from None
    branches = [branch for branch, _ in pairs]
    if any(b not in BRANCHES for b in branches) or len(set(branches)) != len(branches):
        raise ConfigError(f"pretrained branches {branches}: use 'vggish' and/or 'yamnet', each at most once.")
    return pairs


@dataclass
class TrainResult:
    """What ``fit`` returns (on every rank; only rank 0's ``path`` has files)."""

    model: torch.nn.Module  # trained, unwrapped, in eval mode on the training device
    card: checkpoint.Card
    labels: list[str]
    history: list[dict]
    path: Path  # the final checkpoint folder
    n_items: int  # training items per epoch (clips x versions, or kept segments x versions)
    selection: dict | None = None  # GDS report


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Decoded:
    """Every clip of a manifest decoded once: fixed-length waves in memory and label indices."""

    waves: torch.Tensor  # (N, samples) float32, CPU
    targets: torch.Tensor  # (N,) int64
    labels: list[str]
    spans: torch.Tensor | None = None  # (N, 2) int64: where each clip starts in its row, and its samples there


def decode(manifest: Manifest, labels: Sequence[str] | None = None, *, seconds: float = 3.0, sample_rate: int = 16_000,
           workers: int = 0, progress: bool = False, desc: str = "decode", padding: str = "zeros") -> Decoded:
    """Decode, validate and crop/pad every clip of ``manifest`` (``ClipDataset``) into one tensor."""
    dataset = ClipDataset(manifest, labels, seconds=seconds, sample_rate=sample_rate, padding=padding)
    loader = DataLoader(dataset, batch_size=32, num_workers=workers)
    waves, targets, spans = [], [], []
    for w, y, start, length in tqdm(loader, desc=desc, unit="batch", disable=not progress, leave=False):
        waves.append(w)
        targets.append(y)
        spans.append(torch.stack([start, length], dim=1))
    return Decoded(torch.cat(waves).contiguous(), torch.cat(targets).long(), list(dataset.labels),
                   torch.cat(spans).long())


def longest_seconds(manifest: Manifest) -> float:
    """The duration of the longest clip in ``manifest`` (from the file headers): the length of full sequences."""
    import soundfile

    try:
        return max(soundfile.info(str(row.path)).duration for row in manifest.rows)
    except RuntimeError as e:  # soundfile's LibsndfileError
        raise CorpusError(f"Cannot read a clip's length for full sequences ({e}); fix the file or set a clip "
                          "length in seconds.") from None


def _scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig):
    """torch's scheduler for ``cfg.lr_schedule``, stepped once per epoch; the decaying ones reach ``lr_end`` in the
    last epoch (a resumed run keeps the schedule it started with: its state holds the factor)."""
    if cfg.lr_schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.lr_step, gamma=cfg.lr_decay)
    span, ratio = max(cfg.epochs - 1, 1), cfg.lr_end / cfg.lr
    if cfg.lr_schedule == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=ratio ** (1 / span))
    return torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1.0, end_factor=ratio, total_iters=span)


def _check_no_cue(manifest: Manifest) -> None:
    cue = sum(1 for r in manifest.rows if r.extra.get("split", "").strip().lower() == "cue")
    if cue:
        raise CorpusError(
            f"{cue} training clip(s) are planted-cue clips (split == 'cue'), which must never be trained on. "
            "Train on manifest.filter(split='train')."
        )


def _feature_configs(cfg: TrainConfig, spec, seconds: float) -> tuple[FeatureConfig, list[FeatureConfig]]:
    test = preset(cfg.features or spec.feature_preset)
    train = [preset(name) for name in cfg.augment] or [test]
    n = num_frames(int(round(seconds * test.sample_rate)), test)
    for version in train:
        if (version.sample_rate, version.n_bands, version.kind) != (test.sample_rate, test.n_bands, test.kind) or \
                num_frames(int(round(seconds * version.sample_rate)), version) != n:
            raise ConfigError(
                f"STFT augmentation needs versions with the shape of '{test.name}' ({test.n_bands} bands, {n} frames, "
                f"{test.sample_rate} Hz); '{version.name}' differs. Use the stft-v1..stft-v8 presets together."
            )
    min_frames = getattr(spec, "min_frames", 1) or 1
    if n < min_frames:
        raise ConfigError(
            f"Clips of {seconds:g} s give {n} frames but model '{spec.name}' needs at least {min_frames}; "
            "use a longer clip length (seconds)."
        )
    return test, train


class _Batcher:
    """Items -> model inputs on the device. An item is (clip, version, patch); patch -1 is the whole clip."""

    def __init__(self, waves: torch.Tensor, versions: Sequence[FeatureConfig], device: torch.device,
                 segment: tuple[int, int] | None, augmentation: Augmentation | None = None,
                 spans: torch.Tensor | None = None):
        """``segment``: (patch frames, patch hop) to cut patches, or None for whole clips;
        ``augmentation``: applied to the waves (gain) and to the returned features;
        ``spans``: each clip's (start, samples) in its row, to move short clips to a random offset per batch."""
        if device.type == "cuda":  # on the GPU once when it fits easily, else pinned for fast copies
            waves = waves.to(device) if waves.numel() * waves.element_size() < WAVES_ON_DEVICE_BYTES else waves.pin_memory()
        self.waves = waves
        self.spans = spans
        self.fronts = [frontend(v, device) for v in versions]
        self.device = device
        self.segment = segment
        self.augmentation = augmentation or Augmentation()
        self.feature_cfg = versions[0]  # versions share kind, bands and sample rate (_feature_configs)

    def __call__(self, items: torch.Tensor) -> torch.Tensor:
        key = items[:, 0] * len(self.fronts) + items[:, 1]
        unique, inverse = torch.unique(key, return_inverse=True)
        clips, versions = unique // len(self.fronts), unique % len(self.fronts)
        waves = self.waves[clips.to(self.waves.device)].to(self.device, non_blocking=True)
        sr = self.feature_cfg.sample_rate
        spans = self.spans[clips] if self.spans is not None else None
        waves, spans = self.augmentation.stretch(waves, spans, sr)
        if spans is not None:
            waves = shift_within(waves, spans[:, 0], spans[:, 1])
        waves = self.augmentation.waves(waves, sr)
        feats = None
        with torch.no_grad():
            for v in torch.unique(versions).tolist():
                mask = (versions == v).to(self.device)
                out = self.fronts[v](waves[mask])
                if feats is None:
                    feats = out.new_empty((len(unique), *out.shape[1:]))
                feats[mask] = out
        if self.segment is None:
            out = feats[inverse.to(self.device)]
        else:
            cut = patches(feats, *self.segment)  # (U, P, bands, frames)
            out = cut[inverse.to(self.device), items[:, 2].to(self.device)]
        with torch.no_grad():
            return self.augmentation.features(out, self.feature_cfg)


def _segment_selection(batcher: _Batcher, targets: torch.Tensor, n_clips: int, per_clip: int, threshold: float,
                       batch_size: int, scope: str = "emotion") -> tuple[torch.Tensor, dict]:
    """GDS over every training segment under the test features; returns the kept (clip, patch) pairs and the report
    (totals and, per clip in manifest order, the segments kept)."""
    from core.data.selection import gaussian_stats, item_scores, per_file, select, select_items

    items = torch.stack(torch.meshgrid(torch.arange(n_clips), torch.zeros(1, dtype=torch.long),
                                       torch.arange(per_clip), indexing="ij"), dim=-1).reshape(-1, 3)
    if scope == "item":  # Algorithm 1 within each clip: whole clips per batch
        step, scores = max(1, batch_size // per_clip) * per_clip, []
        for start in range(0, len(items), step):
            segments = batcher(items[start:start + step])
            scores.append(item_scores(segments.reshape(-1, per_clip, *segments.shape[1:])))
        chosen = select_items(torch.cat(scores), threshold)
        return items[chosen.keep.flatten()][:, [0, 2]], chosen.report()
    mus, sigmas = [], []
    for start in range(0, len(items), batch_size):
        mu, sigma = gaussian_stats(batcher(items[start:start + batch_size]))
        mus.append(mu.cpu())
        sigmas.append(sigma.cpu())
    selection = select(torch.cat(mus), torch.cat(sigmas), threshold, groups=targets[items[:, 0]])
    kept = torch.bincount(items[selection.keep][:, 0], minlength=n_clips).tolist()
    return items[selection.keep][:, [0, 2]], selection.report() | {"per_file": per_file(None, kept, [per_clip] * n_clips)}


# ----------------------------------------------------------------------------- helpers


def autocast_for(amp: str, device: torch.device):
    """(autocast context factory, GradScaler or None) for the amp setting on this device."""
    import contextlib

    if device.type != "cuda" or amp == "off":
        return contextlib.nullcontext, None
    dtype = torch.bfloat16 if amp == "bf16" or (amp == "auto" and torch.cuda.is_bf16_supported()) else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return (lambda: torch.autocast("cuda", dtype=dtype)), scaler


def _epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    return (int(seed) * 1_000_003 + epoch * 9_176 + rank * 7_919 + 12_345) % (2 ** 63)


def _latest(out_dir: Path) -> Path | None:
    pointer = out_dir / CHECKPOINTS / LATEST
    if not pointer.is_file():
        return None
    folder = out_dir / CHECKPOINTS / pointer.read_text(encoding="utf-8").strip()
    return folder if folder.is_dir() else None


def _settings_differ(old: Mapping, new: Mapping) -> list[str]:
    free = {"epochs", "device", "workers"}
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new)) if k not in free and old.get(k) != new.get(k)]


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


@torch.no_grad()
def predict(model: torch.nn.Module, waves: torch.Tensor, features: FeatureConfig, *, device: str | torch.device = "auto",
            batch_size: int = 36) -> torch.Tensor:
    """Logits ``(N, C)`` (CPU) for fixed-length waves ``(N, samples)``; features computed on ``device``."""
    target = devices.resolve(device)
    front = frontend(features, target)
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(waves), batch_size):
        x = front(waves[start:start + batch_size].to(target))
        out.append(model(x).float().cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 0)


def gds_at_test_time(card: checkpoint.Card | None) -> dict | None:
    """``{"threshold", "segment"}`` when ``card``'s model was trained with S3's per-clip GDS (``gds_scope`` "item"),
    which test clips get too; else None (no GDS, or the per-emotion one: test clips have no label to group by;
    cards from before ``gds_scope`` existed used that one)."""
    return _test_time_gds((card.training or {}) if card is not None else {})


def _test_time_gds(t: Mapping) -> dict | None:
    """``gds_at_test_time`` of a card's ``training`` settings (also of a run's, before its card exists)."""
    if t.get("gds_threshold") is None or t.get("gds_scope", "emotion") != "item" or not t.get("segment_frames"):
        return None
    return {"threshold": float(t["gds_threshold"]), "segment": tuple(int(v) for v in t["segment_frames"])}


@torch.no_grad()
def predict_selected(model: torch.nn.Module, waves: torch.Tensor, features: FeatureConfig, threshold: float, *,
                     segment: tuple[int, int], device: str | torch.device = "auto", batch_size: int = 36):
    """S3's test-time GDS: (logits ``(N, C)`` (CPU), ``core.data.selection.ItemSelection``), each clip's logits the
    mean of the logits of the segments its per-clip selection keeps. Segments are cut as segment training cut them
    (``segment`` = (frames, hop), the card's ``segment_frames``) and fed one by one, as training fed them."""
    from core.data.selection import item_scores, select_items

    target = devices.resolve(device)
    front = frontend(features, target)
    was_training = model.training
    model.eval()
    logits, scores = [], []
    for start in range(0, len(waves), batch_size):
        cut = patches(front(waves[start:start + batch_size].to(target)), *segment)  # (B, P, bands, frames)
        clip_scores = item_scores(cut)
        keep = select_items(clip_scores, threshold).keep.to(target)
        per_segment = torch.cat([model(s).float() for s in cut.flatten(0, 1).split(batch_size)]).reshape(*keep.shape, -1)
        weight = keep.to(per_segment.dtype)[..., None]
        logits.append(((per_segment * weight).sum(1) / weight.sum(1)).cpu())
        scores.append(clip_scores)
    model.train(was_training)
    if not logits:
        return torch.empty(0, 0), select_items(torch.zeros(0, 0), threshold)
    return torch.cat(logits), select_items(torch.cat(scores), threshold)


def _clip_names(manifest: Manifest) -> list[str]:
    """Each clip's path inside its corpus (the file name where it lies outside the root)."""
    root = manifest.root if manifest.root.is_dir() else manifest.root.parent
    names = []
    for row in manifest.rows:
        try:
            names.append(row.path.relative_to(root).as_posix())
        except ValueError:
            names.append(row.path.name)
    return names


def evaluate(model: torch.nn.Module, manifest: Manifest, *, card: checkpoint.Card | None = None,
             labels: Sequence[str] | None = None, features: FeatureConfig | str | None = None,
             seconds: float | None = None, batch_size: int = 36, device: str | torch.device = "auto",
             workers: int = 0, progress: bool = False, adapt_speakers: bool | None = None) -> dict:
    """WA, UA, ACC, per-class recall and confusion matrix of ``model`` on ``manifest``.

    Labels, features and clip length come from ``card`` when given (a loaded checkpoint),
    else from the arguments (labels: the model's output order).

    Clips whose label the model does not know are not scored: they are counted in
    ``unknown_labels`` ({label: clips}) and ``n_unknown``, and every metric is over the rest.
    ``chance_UA`` is the UA of a constant or uniformly random guess, ``1 / len(labels)``.
    A ``card`` trained with S3's per-clip GDS (``gds_at_test_time``) has the test clips selected the same way:
    each clip's prediction is the mean over its kept segments, and ``gds`` reports them (totals, ``per_file``).
    ``adapt_speakers`` predicts each speaker's clips with BatchNorm statistics of that speaker's clips
    (``core.training.adapt``; reported as ``adaptation``); None: when the card's model trained with ``speaker_batches``
    (clips of no named speaker are then predicted as trained; True refuses a corpus that names no speaker);
    ``unadapted`` then holds the same clips' scores with the trained statistics, as one clip is predicted.
    ``trained_speakers`` counts the scored clips of speakers the card says the model was trained on.
    Raises ``CorpusError`` when no clip has a label the model knows.
    """
    if card is not None:
        labels = labels or list(card.labels)
        features = features or card.features
        if seconds is None and card.training:
            seconds = card.training.get("seconds")
    if labels is None or features is None:
        raise ConfigError("evaluate() needs the model's labels and feature config: pass card=..., or labels= and features=.")
    features = preset(features) if isinstance(features, str) else features
    seconds = float(seconds or 3.0)
    labels = list(labels)
    unknown = {label: n for label, n in manifest.counts("label").items() if label not in labels}
    if unknown and len(manifest) == sum(unknown.values()):
        raise CorpusError(
            f"None of the evaluation clips has a label the model knows: it knows {labels}, the corpus has "
            f"{sorted(unknown)}. Evaluate a corpus with (some of) the model's emotions, or a model trained on these."
        )
    scored = manifest.filter(label=labels) if unknown else manifest  # clips of labels the model lacks: not scored
    padding = card.padding if card is not None else "zeros"
    data = decode(scored, labels, seconds=seconds, sample_rate=features.sample_rate, workers=workers, progress=progress,
                  padding=padding)
    gds = gds_at_test_time(card)  # S3: test clips selected as the training clips were
    adapt = adapt_speakers if adapt_speakers is not None else adapts(card)
    if adapt and gds is not None:
        raise ConfigError("Speaker adaptation and S3's test-time Gaussian data selection do not combine; use one.")
    adaptation = None
    if adapt_speakers and scored.speakers() == ["unknown"]:
        raise CorpusError(
            "Speaker adaptation estimates each speaker's statistics from that speaker's clips, and this corpus names "
            "no speakers. Name them (a speaker column in a manifest.csv), or evaluate without adapting to speakers."
        )
    if adapt:
        logits, adaptation = predict_per_speaker(model, data.waves, [row.speaker for row in scored.rows], features,
                                                 device=device, batch_size=batch_size)
        trained = predict(model, data.waves, features, device=device, batch_size=batch_size)  # as one clip gets it
        unadapted = metrics.summary(data.targets, trained.argmax(dim=1), labels)
    elif gds is None:
        logits = predict(model, data.waves, features, device=device, batch_size=batch_size)
    else:
        logits, chosen = predict_selected(model, data.waves, features, gds["threshold"], segment=gds["segment"],
                                          device=device, batch_size=batch_size)
    result = metrics.summary(data.targets, logits.argmax(dim=1), labels)
    if gds is not None:
        result["gds"] = chosen.report(_clip_names(scored))
    if adaptation is not None:
        result["adaptation"] = adaptation
        result["unadapted"] = {k: unadapted[k] for k in ("UA", "WA", "ACC", "F1", "per_class_recall")}
    result["features"] = features.name
    result["unknown_labels"] = unknown  # {label: clips}, left out of every metric above
    result["n_unknown"] = sum(unknown.values())
    result["chance_UA"] = 1 / len(labels)  # UA of a constant (or uniformly random) guess
    result["trained_speakers"] = trained_speaker_clips(card, scored)
    return result


def compute_record(device: torch.device) -> dict:
    """What a rerun must match to repeat training bit for bit: float reductions are ordered by the torch build,
    the device and (on CPU) the number of threads, so two runs that differ in any of them differ in the weights."""
    return {"torch": torch.__version__, "device": device.type,
            "threads": torch.get_num_threads() if device.type == "cpu" else None,
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None}


def trained_speaker_clips(card: checkpoint.Card | None, manifest: Manifest) -> dict[str, int]:
    """``{speaker: clips}`` of the clips in ``manifest`` whose speaker the model was trained on (empty when the card
    records no speakers): a score that counts them is not speaker-independent, whatever the card's protocol says."""
    heard = card.trained_speakers if card is not None else frozenset()
    return {speaker: n for speaker, n in sorted(manifest.counts("speaker").items()) if speaker in heard}


# ----------------------------------------------------------------------------- fit


def fit(train_manifest: Manifest, cfg: TrainConfig, out_dir: str | Path, *, labels: Sequence[str] | None = None,
        val_manifest: Manifest | None = None, resume: bool = False, progress: bool = True) -> TrainResult:
    """Train ``cfg.model`` on ``train_manifest``; see the module docstring for what is written where.

    Prepare the run (or resume it), then per epoch train, validate and write the epoch checkpoint until the last
    epoch or early stopping, then evaluate and save the final model.
    """
    run = _prepare(train_manifest, cfg, out_dir, labels=labels, val_manifest=val_manifest, resume=resume,
                   progress=progress)
    bar = tqdm(range(run.start_epoch, cfg.epochs), desc=f"train {cfg.model}", unit="epoch", disable=not run.show,
               initial=run.start_epoch, total=cfg.epochs)
    for epoch in bar:
        if run.stopped(epoch):
            break  # also on resume: a stopped run stays stopped
        record = _epoch(run, epoch)
        bar.set_postfix({k: f"{record[k]:.3f}" for k in ("loss", "train_UA", "val_UA") if k in record})
        _save_epoch(run, epoch)
    bar.close()
    return _save(run, _final_metrics(run))


# ----------------------------------------------------------------------------- fit: prepare


@dataclass
class _Run:
    """A training run as its epochs and its final save see it (built by ``_prepare``; ``history``, ``best`` grow)."""

    cfg: TrainConfig
    ctx: distributed.Context
    out_dir: Path
    show: bool  # progress bars and messages (rank 0 only)
    model: torch.nn.Module  # unwrapped; step.model is the one trained (DDP-wrapped under torchrun)
    step: _EpochStep
    labels: list[str]
    test_feat: FeatureConfig  # what validation and the card use
    val: Decoded | None  # the decoded validation clips (rank 0 only)
    val_manifest: Manifest | None
    base_card: dict  # what every card of the run says (labels, features, training settings, data)
    fingerprint: str
    pretrained: list | None  # what load_pretrained reported (the checkpoint's record on resume)
    selection: dict | None  # GDS report
    start_epoch: int = 0  # epochs already done (resume)
    history: list[dict] = field(default_factory=list)
    best: dict | None = None  # early stopping: {"epoch", "UA", "weights"}

    def stopped(self, epoch: int) -> bool:
        """Early stopping: ``patience`` epochs have passed since the best one."""
        return self.best is not None and bool(self.cfg.patience) and epoch - self.best["epoch"] >= self.cfg.patience


def _prepare(train_manifest: Manifest, cfg: TrainConfig, out_dir: str | Path, *, labels: Sequence[str] | None,
             val_manifest: Manifest | None, resume: bool, progress: bool) -> _Run:
    """Check the inputs, decode the data once, build the model (or restore it from the newest epoch checkpoint),
    the optimiser and the batcher. The order is fixed: it decides what the global RNG draws."""
    from core import models

    if cfg.patience and val_manifest is None:
        raise ConfigError(
            f"patience={cfg.patience}: early stopping watches a validation set; pass val_manifest (a held-out training "
            "speaker, never the test speaker: cross_validate and `serwb train` choose one), or set patience=0."
        )
    out_dir = Path(out_dir)
    ctx = distributed.context(cfg.device)
    device = ctx.device
    show = progress and ctx.is_main
    _check_no_cue(train_manifest)
    if len(train_manifest) == 0:
        raise CorpusError("The training set is empty; check the corpus folder and the split/filters used.")
    spec = models.spec(cfg.model)
    seconds = cfg.seconds or longest_seconds(train_manifest)
    test_feat, train_feats = _feature_configs(cfg, spec, seconds)
    segment = cfg.segment_training if cfg.segment_training is not None else spec.input_kind == "patch"
    if cfg.gds_threshold is not None and not segment:
        raise ConfigError(
            "Gaussian data selection picks training *segments*; it needs segment training "
            "(a patch model such as vggish, or segment_training=True)."
        )
    labels = list(labels) if labels is not None else train_manifest.labels()
    fingerprint = checkpoint.data_fingerprint(train_manifest)

    folder, state = _resume_state(out_dir, cfg, labels, fingerprint, resume=resume, show=show)
    model, pretrained = _build_model(cfg, len(labels), device, state)
    cut = (getattr(model, "patch_frames", test_feat.patch_frames), getattr(model, "patch_hop", test_feat.patch_hop_frames))

    data = decode(train_manifest, labels, seconds=seconds, sample_rate=test_feat.sample_rate,
                  workers=cfg.workers, progress=show, desc="decode train", padding=cfg.padding)
    batcher, items, item_targets, selection = _training_items(cfg, data, train_feats, test_feat, device,
                                                              cut if segment else None)
    if selection:  # each clip of the GDS report named by its file
        selection |= {"per_file": [f | {"file": name} for f, name in zip(selection["per_file"], _clip_names(train_manifest))]}
    weight = class_weights(item_targets, len(labels)).to(device) if cfg.class_weighted else None
    item_speakers = _item_speakers(train_manifest, items) if cfg.speaker_batches else None
    optimizer = OPTIMISERS[cfg.optimiser](model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = _scheduler(optimizer, cfg)
    autocast, scaler = autocast_for(cfg.amp, device)

    history, start_epoch, best = _restore(folder, state, model, optimizer, scheduler, scaler, device)
    pretraining = pretrain_stage(model,  # models with .pretrain (S2's DBN): once, before the first epoch
                                 batcher, items, batch_size=cfg.batch_size, seed=cfg.seed,
                                 resumed_from=folder, progress=show)
    train_model = _wrap(model, ctx)
    val = None
    if val_manifest is not None and ctx.is_main:
        val = decode(val_manifest, labels, seconds=seconds, sample_rate=test_feat.sample_rate,
                     workers=cfg.workers, progress=show, desc="decode val", padding=cfg.padding)

    base_card = {
        "labels": labels,
        "features": test_feat,
        "training": cfg.to_dict() | {"features": test_feat.name, "seconds": seconds, "segment_training": segment,
                                     "items_per_epoch": len(items),
                                     "segment_frames": list(cut) if segment else None, "world_size": ctx.world_size,
                                     "compute": compute_record(device)}
        | ({"pretrained_weights": pretrained} if pretrained else {})
        | ({"pretraining": pretraining} if pretraining else {})
        | ({"seconds_from": "the longest training clip (full sequences)"} if cfg.seconds is None else {}),
        "data": {"fingerprint": fingerprint, "corpus": train_manifest.corpus, "clips": len(data.targets),
                 "counts": dict(train_manifest.counts()), "speakers": train_manifest.speakers()},
        "extra": {"gds": selection} if selection else {},
    }
    step = _EpochStep(train_model, batcher, items, item_targets, weight, optimizer, scheduler, scaler, autocast, cfg,
                      ctx, len(labels), item_speakers)
    return _Run(cfg=cfg, ctx=ctx, out_dir=out_dir, show=show, model=model, step=step, labels=labels,
                test_feat=test_feat, val=val, val_manifest=val_manifest, base_card=base_card, fingerprint=fingerprint,
                pretrained=pretrained, selection=selection, start_epoch=start_epoch, history=history, best=best)


def _resume_state(out_dir: Path, cfg: TrainConfig, labels: list[str], fingerprint: str, *, resume: bool,
                  show: bool) -> tuple[Path | None, dict | None]:
    """(newest epoch folder, its trainer state) to resume from, or (None, None) to start afresh.

    A folder that holds a run is only continued with ``resume`` and the settings, labels and data it was trained with.
    """
    latest = _latest(out_dir)
    if latest is not None and not resume:
        raise ConfigError(
            f"{out_dir} already holds a training run (last checkpoint {latest.name}). "
            "Resume it with --resume (resume=True), or choose another output folder."
        )
    if resume and latest is not None:
        state = checkpoint.load_state(latest, TRAINER)
        differ = _settings_differ(TrainConfig.from_dict(state["config"]).to_dict(), cfg.to_dict())  # older cards: defaults
        if differ or state["labels"] != labels or state["data_fingerprint"] != fingerprint:
            reasons = differ + (["labels differ"] if state["labels"] != labels else []) + \
                (["the training data differ"] if state["data_fingerprint"] != fingerprint else [])
            raise ConfigError(
                f"Cannot resume {out_dir}: it was trained with other settings ({'; '.join(reasons)}). "
                "Use the original settings (only epochs, device and workers may change) or another output folder."
            )
        return latest, state
    if resume and show:
        print(f"serwb: no checkpoint in {out_dir}; starting from epoch 1", file=sys.stderr)
    return None, None


def _build_model(cfg: TrainConfig, n_labels: int, device: torch.device,
                 state: dict | None) -> tuple[torch.nn.Module, list | None]:
    """The seeded model on ``device`` with the public pretrained weights (a fresh run only: a resumed run's checkpoint
    holds them, and its record of what was loaded); (model, that record or None)."""
    from core import models

    torch.manual_seed(cfg.seed)
    model = models.build(cfg.model, n_labels, **dict(cfg.model_cfg)).to(device)
    if state is not None:
        return model, state.get("pretrained")
    if cfg.pretrained:
        from core.models.pretrained import load_pretrained

        return model, [load_pretrained(model, branch, path) for branch, path in cfg.pretrained]
    return model, None


def _training_items(cfg: TrainConfig, data: Decoded, train_feats: list[FeatureConfig], test_feat: FeatureConfig,
                    device: torch.device,
                    cut: tuple[int, int] | None) -> tuple[_Batcher, torch.Tensor, torch.Tensor, dict | None]:
    """(batcher, items, their targets, GDS report) for the decoded training clips. An item is (clip, version, patch):
    every clip (or, for segment training with ``cut``, every kept patch) under each training version."""
    n_clips, n_versions = len(data.targets), len(train_feats)
    batcher = _Batcher(data.waves, train_feats, device, cut, cfg.augmentation,
                       spans=data.spans if cfg.padding == "noise-floor" else None)
    selection = None
    if cut is not None:
        per_clip = n_patches(num_frames(data.waves.shape[1], test_feat), *cut)
        if cfg.gds_threshold is not None:
            gds_batcher = _Batcher(data.waves, [test_feat], device, cut)
            pairs, selection = _segment_selection(gds_batcher, data.targets, n_clips, per_clip, cfg.gds_threshold,
                                                  cfg.batch_size, cfg.gds_scope)
        else:
            pairs = torch.stack(torch.meshgrid(torch.arange(n_clips), torch.arange(per_clip), indexing="ij"), -1).reshape(-1, 2)
    else:
        pairs = torch.stack([torch.arange(n_clips), torch.full((n_clips,), -1)], dim=1)
    items = torch.cat([torch.stack([pairs[:, 0], torch.full((len(pairs),), v), pairs[:, 1]], 1) for v in range(n_versions)])
    item_targets = data.targets[items[:, 0]]
    if len(items) == 0:
        raise CorpusError("Gaussian data selection dropped every training segment; lower gds_threshold.")
    return batcher, items, item_targets, selection


def _restore(folder: Path | None, state: dict | None, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
             scheduler: Any, scaler: Any, device: torch.device) -> tuple[list[dict], int, dict | None]:
    """Load a resumed run's weights, optimiser, scheduler and scaler state; (history, epochs done, best epoch)."""
    if state is None:
        return [], 0, None
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(folder / checkpoint.WEIGHTS), device=str(device)), strict=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    return list(state["history"]), int(state["epoch"]), state.get("best")


def _wrap(model: torch.nn.Module, ctx: distributed.Context) -> torch.nn.Module:
    """The model as trained: DistributedDataParallel under torchrun (SyncBatchNorm on CUDA), else ``model``."""
    if not ctx.distributed:
        return model
    if ctx.device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)


# ----------------------------------------------------------------------------- fit: epoch


@dataclass
class _EpochStep:
    """What one training epoch needs (built once by ``_prepare``)."""

    model: torch.nn.Module  # the model as trained (DDP-wrapped under torchrun)
    batcher: "_Batcher"
    items: torch.Tensor  # (n, 3): clip, version, patch
    item_targets: torch.Tensor
    weight: torch.Tensor | None  # class weights of the focal loss
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    autocast: Any
    cfg: TrainConfig
    ctx: Any  # distributed.context
    n_labels: int
    item_speakers: torch.Tensor | None = None  # (n,) speaker index of each item: one speaker per batch (speaker_batches)


def _item_speakers(manifest: Manifest, items: torch.Tensor) -> torch.Tensor:
    """The speaker index (in sorted order) of each item's clip; speaker batches need named speakers."""
    speakers = manifest.speakers()
    if "unknown" in speakers:
        raise ConfigError(
            f"speaker_batches puts one speaker's clips in each batch, and {manifest.corpus}'s training set has clips "
            "of no named speaker. Name the speakers (a speaker column in a manifest.csv) or train without speaker "
            "batches."
        )
    index = {s: i for i, s in enumerate(speakers)}
    clip_speakers = torch.tensor([index[row.speaker] for row in manifest.rows])
    return clip_speakers[items[:, 0]]


def _epoch_batches(n: int, batch_size: int, generator: torch.Generator,
                   speakers: torch.Tensor | None = None) -> list[torch.Tensor]:
    """This epoch's batches of item indices: a shuffle cut into ``batch_size`` pieces or, with ``speakers``, each
    speaker's items shuffled and cut into near-equal batches of at most ``batch_size`` (no speaker's last batch is a
    lone clip), the batches of every speaker then shuffled together."""
    order = torch.randperm(n, generator=generator)
    if speakers is None:
        return list(order.split(batch_size))
    batches = []
    for speaker in speakers.unique(sorted=True):
        mine = order[speakers[order] == speaker]
        batches += list(mine.tensor_split(math.ceil(len(mine) / batch_size)))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator)]


def _train_epoch(step: _EpochStep, epoch: int) -> dict:
    """One pass over the items in this epoch's seeded order: the optimiser steps and the epoch's training record
    (weighted focal loss, train UA/WA over every rank, learning rate)."""
    cfg, ctx, device, n = step.cfg, step.ctx, step.ctx.device, step.n_labels
    step.model.train()
    torch.manual_seed(_epoch_seed(cfg.seed, epoch, ctx.rank))
    batches = _epoch_batches(len(step.items), cfg.batch_size, torch.Generator().manual_seed(_epoch_seed(cfg.seed, epoch)),
                             step.item_speakers)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    weight_sum = torch.zeros((), dtype=torch.float64, device=device)
    confusion = torch.zeros(n, n, dtype=torch.long, device=device)
    weight = step.weight
    lr = float(step.optimizer.param_groups[0]["lr"])
    for chosen in batches:
        y_global = step.item_targets[chosen].to(device)
        denom = weight[y_global].sum() if weight is not None else torch.tensor(float(len(chosen)), device=device)
        local = distributed.shard(chosen, ctx)
        real = torch.ones(len(local), device=device)
        if len(local) == 0:  # a short last global batch: this rank runs one item with zero weight
            local, real = chosen[:1], torch.zeros(1, device=device)
        x = step.batcher(step.items[local])
        y = step.item_targets[local].to(device)
        with step.autocast():
            logits = step.model(x)
        per_item = focal_loss(logits.float(), y, weight, cfg.focal_gamma, reduction="none") * real
        loss = per_item.sum() / denom * ctx.world_size
        step.optimizer.zero_grad(set_to_none=True)
        if step.scaler is not None:
            step.scaler.scale(loss).backward()
            step.scaler.step(step.optimizer)
            step.scaler.update()
        else:
            loss.backward()
            step.optimizer.step()
        with torch.no_grad():
            loss_sum += per_item.detach().double().sum()
            weight_sum += ((weight[y] if weight is not None else torch.ones_like(real)) * real).double().sum()
            pred = logits.detach().argmax(dim=1)
            confusion += torch.bincount((y * n + pred)[real > 0], minlength=n**2).view_as(confusion)
    step.scheduler.step()
    if ctx.distributed:
        for t in (loss_sum, weight_sum, confusion):
            torch.distributed.all_reduce(t)
    recall = confusion.diag().double() / confusion.sum(1).clamp_min(1)
    present = confusion.sum(1) > 0
    return {"epoch": epoch + 1, "loss": float(loss_sum / weight_sum), "train_UA": float(recall[present].mean()),
            "train_WA": float(confusion.diag().sum() / confusion.sum()), "lr": lr}


def _epoch(run: _Run, epoch: int) -> dict:
    """Train one epoch, validate (rank 0) and keep the best epoch's weights for early stopping; the epoch's record,
    also appended to the run's history."""
    cfg = run.cfg
    record = _train_epoch(run.step, epoch)
    if run.val is not None:
        summary = _validate(run)
        record |= {"val_UA": summary["UA"], "val_WA": summary["WA"], "val_ACC": summary["ACC"]}
        if cfg.patience and (run.best is None or summary["UA"] > run.best["UA"]):
            run.best = {"epoch": epoch + 1, "UA": summary["UA"],
                        "weights": {k: v.detach().to("cpu", copy=True) for k, v in run.model.state_dict().items()}}
    if cfg.patience and run.ctx.distributed:  # every rank must stop at the same epoch
        run.best = _broadcast_best_epoch(run.best, run.ctx.device)
    run.history.append(record)
    return record


def _validate(run: _Run) -> dict:
    """Metrics of the run's model on the decoded validation clips, predicted as ``evaluate`` will predict test clips:
    whole clips, or with S3's per-clip GDS the mean over each clip's kept segments."""
    model, val, batch_size = run.model, run.val, run.cfg.batch_size
    device = next(model.parameters()).device
    gds = _test_time_gds(run.base_card["training"])
    if gds is None:
        logits = predict(model, val.waves, run.test_feat, device=device, batch_size=batch_size)
    else:
        logits, _ = predict_selected(model, val.waves, run.test_feat, gds["threshold"], segment=gds["segment"],
                                     device=device, batch_size=batch_size)
    return metrics.summary(val.targets, logits.argmax(1), run.labels)


def _broadcast_best_epoch(best: dict | None, device: torch.device) -> dict:
    """Rank 0's best epoch on every rank (only rank 0 validates; the others need the epoch to stop with it)."""
    epoch = torch.tensor([best["epoch"] if best else 0], device=device)
    torch.distributed.broadcast(epoch, 0)
    return best if best is not None and best["epoch"] == int(epoch) else {"epoch": int(epoch), "UA": float("nan"), "weights": {}}


# ----------------------------------------------------------------------------- fit: evaluate and save


def _save_epoch(run: _Run, epoch: int) -> None:
    """Rank 0 writes the epoch checkpoint (model, card, trainer state: what a resumed run needs); all ranks wait."""
    if run.ctx.is_main:
        step, cfg = run.step, run.cfg
        trainer_state = {
            "epoch": epoch + 1,
            "optimizer": step.optimizer.state_dict(),
            "scheduler": step.scheduler.state_dict(),
            "scaler": step.scaler.state_dict() if step.scaler is not None else None,
            "rng": {"scheme": "per-epoch seeds", "seed": cfg.seed, "next_epoch": epoch + 1},
            "history": run.history,
            "config": cfg.to_dict(),
            "labels": run.labels,
            "data_fingerprint": run.fingerprint,
            "world_size": run.ctx.world_size,
            "pretrained": run.pretrained,
            "best": run.best,
        }
        _write_epoch(run.out_dir, epoch + 1, run.model, run.base_card | {"metrics": {"history": run.history}},
                     trainer_state)
    distributed.barrier(run.ctx)


def _write_epoch(out_dir: Path, epoch: int, model: torch.nn.Module, card: Mapping, trainer_state: Mapping) -> Path:
    """Write ``checkpoints/epoch-NNNN`` atomically, point ``LATEST`` at it, drop older epoch folders."""
    root = out_dir / CHECKPOINTS
    name = f"epoch-{epoch:04d}"

    def write(folder: Path) -> None:
        checkpoint.write_files(model, card, folder)
        checkpoint.save_state(folder, TRAINER, trainer_state)

    checkpoint.write_dir_atomically(root / name, write)
    checkpoint.write_text_atomically(root / LATEST, name + "\n")
    for old in root.iterdir():  # older epochs, and temporaries a killed run left behind
        if old.name != name and (old.name.startswith("epoch-") or old.name.startswith(".")):
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
    return root / name


def _final_metrics(run: _Run) -> dict:
    """Put the best epoch's weights back (early stopping), switch to eval mode and evaluate on the validation clips:
    the final card's metrics."""
    cfg, best = run.cfg, run.best
    final: dict = {"history": run.history}
    if cfg.patience and best is not None:
        if run.ctx.is_main:
            run.model.load_state_dict({k: v.to(run.ctx.device) for k, v in best["weights"].items()})
        final["early_stopping"] = {
            "monitor": "val_UA", "patience": cfg.patience, "best_epoch": best["epoch"], "best_val_UA": best["UA"],
            "epochs_run": len(run.history), "val_speakers": run.val_manifest.speakers(),
            "val_clips": len(run.val_manifest)}
    run.model.eval()
    if run.val is not None:
        final["validation"] = _validate(run)
    return final


def _save(run: _Run, final_metrics: dict) -> TrainResult:
    """Rank 0 saves the final checkpoint (``out_dir/model``) with these metrics in its card; every rank returns it."""
    path = run.out_dir / FINAL
    card = checkpoint.card_for(run.model, run.base_card | {"metrics": final_metrics})
    if run.ctx.is_main:
        card = checkpoint.save(run.model, card, path)
    distributed.barrier(run.ctx)
    return TrainResult(model=run.model, card=card, labels=run.labels, history=run.history, path=path,
                       n_items=len(run.step.items), selection=run.selection)


def load_latest(out_dir: str | Path, device: str | torch.device = "auto") -> tuple[torch.nn.Module, checkpoint.Card]:
    """The model of the newest epoch checkpoint in a training folder."""
    latest = _latest(Path(out_dir))
    if latest is None:
        raise ConfigError(f"{out_dir} has no epoch checkpoint yet ({CHECKPOINTS}/{LATEST} is missing).")
    return checkpoint.load(latest, device)
