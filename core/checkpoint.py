"""Checkpoints that rebuild their model: ``model.safetensors`` + ``card.json`` in one folder.

The card (nanoGPT's ``model_args`` idea, as JSON) names the registry entry and the keyword
arguments that rebuild it, the label order, the full feature configuration, how the model
was trained, its metrics, a fingerprint of the training data and the weights' SHA-256::

    {"format": "serwb-checkpoint/1",
     "model": {"name": "cnn-eca", "config": {...}, "num_classes": 4},
     "labels": ["angry", "happy", "neutral", "sad"],
     "features": {"preset": "stft-v8", "config": {...FeatureConfig...}},
     "training": {...TrainConfig...} | null, "metrics": {...}, "data": {"fingerprint": ...},
     "serwb_version": "0.1.0", "created_at": "2025-...Z", "weights_sha256": "...", "extra": {}}

``load`` rebuilds the model through ``core.models.build`` and loads the weights with
``strict=True``. Nothing is ever unpickled: ``.pt``/``.pth``/``.ckpt``/``.pkl`` (or any file
that is not safetensors or JSON) is refused by name, before it is opened.

``flatten_state`` / ``unflatten_state`` turn nested training state (optimizer, scheduler,
RNG) into safetensors tensors plus a JSON skeleton, so epoch checkpoints need no pickle either.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import glob
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from core import __version__, devices
from core.errors import CheckpointError, ConfigError
from core.features import PRESETS, FeatureConfig
from core.hashing import sha256_file  # noqa: F401  (also re-exported: checkpoint.sha256_file)
from core.jsonsafe import plain

FORMAT = "serwb-checkpoint/1"
WEIGHTS = "model.safetensors"
CARD = "card.json"
#: A staging folder or file this old belongs to a killed writer: the next write of the same path removes it.
STALE_AFTER_S = 3600.0
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2  # <fcntl.h>, <linux/fs.h>
#: File endings of pickle-based checkpoints: refused by name, never opened.
PICKLE_SUFFIXES = frozenset({".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin", ".tar", ".joblib", ".npy", ".npz"})

_CONVERT_HINT = (
    "serwb loads only safetensors checkpoints (a folder with model.safetensors and card.json) and never "
    "unpickles files, because unpickling can run code. If you trust the file, convert it yourself: "
    "read its state dict with PyTorch's weights-only loader (weights_only=True), load it into a model from "
    "core.models.build(...) and write it with core.checkpoint.save(model, {'labels': [...]}, folder)."
)


def _frozen(mapping: Mapping | None) -> Mapping:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Card:
    """What a checkpoint says about its model. ``save`` fills model, version, time and hash."""

    model: str
    model_config: Mapping = field(default_factory=dict)
    num_classes: int = 0
    labels: tuple[str, ...] = ()
    features: FeatureConfig | None = None
    training: Mapping | None = None
    metrics: Mapping = field(default_factory=dict)
    data: Mapping = field(default_factory=dict)
    serwb_version: str = __version__
    created_at: str = ""
    weights_sha256: str = ""
    extra: Mapping = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        for name in ("model_config", "metrics", "data", "extra"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        if self.training is not None:
            object.__setattr__(self, "training", _frozen(self.training))

    @property
    def feature_preset(self) -> str | None:
        return self.features.name if self.features is not None else None

    @property
    def padding(self) -> str:
        """How a clip shorter than the trained length is padded (``core.audio.PADDINGS``); cards written before
        the setting existed were trained with zeros."""
        return str((self.training or {}).get("padding", "zeros"))

    @property
    def trained_speakers(self) -> frozenset[str]:
        """The named speakers of the training data (``data["speakers"]``; empty on cards that do not record them):
        figures on their clips are not speaker-independent, and may be on the very clips the model learnt."""
        return frozenset((self.data or {}).get("speakers") or ()) - {"unknown"}  # "unknown": clips without a speaker

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "model": {"name": self.model, "config": plain(self.model_config), "num_classes": self.num_classes},
            "labels": list(self.labels),
            "features": None if self.features is None else {"preset": self.features.name, "config": self.features.to_dict()},
            "training": None if self.training is None else plain(self.training),
            "metrics": plain(self.metrics),
            "data": plain(self.data),
            "serwb_version": self.serwb_version,
            "created_at": self.created_at,
            "weights_sha256": self.weights_sha256,
            "extra": plain(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Mapping, where: str = "card") -> "Card":
        try:
            if data.get("format") != FORMAT:
                raise CheckpointError(
                    f"{where} has format {data.get('format')!r}; this serwb reads {FORMAT!r}. "
                    "Re-save the checkpoint with this version of serwb."
                )
            model = data["model"]
            feats = data.get("features")
            features = None if feats is None else FeatureConfig.from_dict(feats["config"])
            return cls(
                model=str(model["name"]),
                model_config=dict(model.get("config") or {}),
                num_classes=int(model["num_classes"]),
                labels=tuple(data["labels"]),
                features=features,
                training=data.get("training"),
                metrics=data.get("metrics") or {},
                data=data.get("data") or {},
                serwb_version=str(data.get("serwb_version", "")),
                created_at=str(data.get("created_at", "")),
                weights_sha256=str(data.get("weights_sha256", "")),
                extra=data.get("extra") or {},
            )
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, ConfigError) as e:
            raise CheckpointError(
                f"{where} is not a valid serwb model card ({type(e).__name__}: {e}). "
                "It needs model.name, model.config, model.num_classes, labels and features; re-save the checkpoint."
            ) from None


# ------------------------------------------------------------------------------ hashing


def data_fingerprint(manifest) -> str:
    """SHA-256 over the sorted (path relative to the root, size in bytes, label) of a manifest's clips."""
    root = Path(manifest.root)
    entries = []
    for row in manifest.rows:
        path = Path(row.path)
        try:
            rel = path.relative_to(root).as_posix()
        except ValueError:
            rel = path.as_posix()
        size = path.stat().st_size if path.exists() else -1
        entries.append((rel, size, row.label))
    digest = hashlib.sha256()
    for rel, size, label in sorted(entries):
        digest.update(f"{rel}\t{size}\t{label}\n".encode())
    return digest.hexdigest()


def checkpoint_hash(path: str | os.PathLike) -> str:
    """A cache key for a checkpoint: SHA-256 over its weights and what the card says changes outputs
    (model name and config, labels, features). Re-saving the same model gives the same key."""
    folder = _checkpoint_dir(path)
    card = _read_card(folder)
    digest = hashlib.sha256(sha256_file(folder / WEIGHTS).encode())
    decisive = {k: v for k, v in card.to_dict().items() if k in ("model", "labels", "features")}
    digest.update(json.dumps(decisive, sort_keys=True).encode())
    return digest.hexdigest()


# ------------------------------------------------------------------------------ atomic folders


def write_dir_atomically(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_folder)`` and swap the finished folder into place at ``path`` in one step.

    The folder is built as ``.{name}.tmp-XXXX/{name}`` beside ``path`` (one level down, so that a killed
    writer's leftover holds no ``card.json`` a folder listing would offer as a checkpoint), flushed, and then
    exchanged with an existing ``path`` (Linux ``renameat2``) or renamed onto an absent one: a reader, or a
    crash, sees the old folder or the new one, never a half-written one. Where the system cannot exchange,
    the old folder is moved aside first, which leaves ``path`` absent, never partial, between two renames.
    Leftovers of killed writers of ``path`` older than ``STALE_AFTER_S`` are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(path)
    stage = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    tmp = stage / path.name
    try:
        tmp.mkdir()  # an ordinary folder's mode (mkdtemp's own is private)
        write(tmp)
        for item in tmp.iterdir():  # flush file contents before the rename makes them visible
            if item.is_file():
                with open(item, "rb") as f:
                    os.fsync(f.fileno())
        if not path.exists():
            os.rename(tmp, path)
        elif not _exchange(tmp, path):
            os.replace(path, stage / f"{path.name}.old")
            os.replace(tmp, path)
    finally:
        shutil.rmtree(stage, ignore_errors=True)  # the unfinished folder, or the old one it replaced
    return path


def _exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where the system cannot."""
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # an old kernel or a file system without it
        return False
    raise OSError(code, os.strerror(code), str(b))


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except (OSError, TypeError):  # no C library to open by name (Windows)
        return None


def sweep_stale(path: str | os.PathLike, max_age_s: float = STALE_AFTER_S) -> None:
    """Remove what killed writers of ``path`` left beside it (``.{name}.tmp-*`` older than ``max_age_s``).

    Such leftovers are never read, since only a finished folder or file is renamed to ``path``; sweeping them
    on the next write keeps a folder of checkpoints from filling up with them. A writer killed between the two
    renames of ``write_dir_atomically``'s fallback left ``path`` absent and the old folder aside: it is put back.
    """
    path = Path(path)
    cutoff = time.time() - max_age_s
    for left in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):
        try:
            if left.lstat().st_mtime >= cutoff:
                continue  # perhaps another writer's, still at work
            if (left / f"{path.name}.old").is_dir() and not path.exists():
                os.rename(left / f"{path.name}.old", path)
            if left.is_dir() and not left.is_symlink():
                shutil.rmtree(left)
            else:
                left.unlink()
        except OSError:  # removed by another writer meanwhile
            continue


def _umask() -> int:
    """The process umask, read without changing it (os.umask would, for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def write_bytes_atomically(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a flushed temporary file and one rename: a reader sees the old file or
    the new one, never half of one."""
    path = Path(path)
    sweep_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it the mode open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    """``write_bytes_atomically`` for UTF-8 text."""
    return write_bytes_atomically(path, text.encode("utf-8"))


# ------------------------------------------------------------------------------ save / load


def state_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict as contiguous CPU tensors that share no storage (safetensors needs both)."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}


def card_for(model: torch.nn.Module, card: Card | Mapping | None) -> Card:
    """The card ``save`` would write for ``model``: ``card``'s fields with the model's name, config, classes,
    version and time filled in and checked (one label per output, a known feature preset); no weights hash yet."""
    for attr in ("model_name", "config", "num_classes"):
        if not hasattr(model, attr):
            raise CheckpointError(
                f"This model has no .{attr}; only models built by core.models.build(...) can be saved "
                "as checkpoints that rebuild themselves."
            )
    base: dict[str, Any] = {}
    if isinstance(card, Card):
        base = {f.name: getattr(card, f.name) for f in fields(Card)}
    elif card is not None:
        known = {f.name for f in fields(Card)}
        unknown = set(card) - known
        if unknown:
            raise ConfigError(f"Unknown card fields {sorted(unknown)}; known ones are {sorted(known)}.")
        base = dict(card)
    features = base.get("features")
    if features is None and getattr(model, "spec", None) is not None:
        features = getattr(model.spec, "feature_preset", None)
    if isinstance(features, str):
        if features not in PRESETS:
            raise ConfigError(f"Unknown feature preset '{features}'. Known presets: {', '.join(PRESETS)}.")
        features = PRESETS[features]
    labels = tuple(base.get("labels") or ())
    if len(labels) != int(model.num_classes):
        raise ConfigError(
            f"The card needs one label per model output: the model has {model.num_classes} classes "
            f"but {len(labels)} labels were given ({list(labels)})."
        )
    base.update(
        model=str(model.model_name),
        model_config=dict(model.config),
        num_classes=int(model.num_classes),
        labels=labels,
        features=features,
        serwb_version=__version__,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )
    base.pop("weights_sha256", None)
    return Card(**base)


def write_files(model: torch.nn.Module, card: Card | Mapping | None, folder: str | os.PathLike) -> Card:
    """Write ``model.safetensors`` and ``card.json`` into an existing ``folder`` (not atomic: see ``save``)."""
    card = card_for(model, card)
    try:
        json.dumps(plain(card.model_config))
    except TypeError as e:
        raise CheckpointError(f"The model's config is not JSON-able ({e}); fix the model's .config.") from None
    folder = Path(folder)
    save_file(state_tensors(model), str(folder / WEIGHTS), metadata={"format": FORMAT})  # one key: safetensors orders metadata keys at random
    final = Card(**{**{f.name: getattr(card, f.name) for f in fields(Card)}, "weights_sha256": sha256_file(folder / WEIGHTS)})
    (folder / CARD).write_text(json.dumps(final.to_dict(), indent=2) + "\n", encoding="utf-8")
    return final


def save(model: torch.nn.Module, card: Card | Mapping | None, path: str | os.PathLike) -> Card:
    """Write ``path/model.safetensors`` and ``path/card.json`` atomically; returns the card written.

    ``card`` gives at least ``labels`` (one per output); ``features`` (a ``FeatureConfig`` or
    a preset name) defaults to the model's preset. Model name, config, version, time and the
    weights' hash come from the model and the file written.
    """
    written: dict[str, Card] = {}
    write_dir_atomically(path, lambda folder: written.setdefault("card", write_files(model, card, folder)))
    return written["card"]


def _checkpoint_dir(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() not in (".safetensors", ".json"):
            raise CheckpointError(f"'{path.name}' is not a serwb checkpoint. {_CONVERT_HINT}")
        path = path.parent
    if not path.is_dir():
        raise CheckpointError(
            f"No checkpoint at '{path}'. Check the path; a checkpoint is a folder with {WEIGHTS} and {CARD} "
            "(train one with `serwb train ... --out DIR`)."
        )
    return path


def _read_card(folder: Path) -> Card:
    card_path = folder / CARD
    if not card_path.is_file():
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
        found = f" It holds {', '.join(pickles)}, which serwb will not unpickle." if pickles else ""
        raise CheckpointError(f"'{folder}' has no {CARD}, so it is not a serwb checkpoint.{found} {_CONVERT_HINT}")
    try:
        data = json.loads(card_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{card_path} is not valid JSON ({e}). Restore it from the original checkpoint.") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{card_path} is not a model card (expected a JSON object). Restore it from the original checkpoint.")
    return Card.from_dict(data, where=str(card_path))


def read_card(path: str | os.PathLike) -> Card:
    """The card of a checkpoint folder, without loading weights."""
    return _read_card(_checkpoint_dir(path))


def _shape_report(expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor], limit: int = 8) -> str:
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = [
        f"{k}: checkpoint {tuple(found[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(expected) & set(found))
        if tuple(found[k].shape) != tuple(expected[k].shape)
    ]
    parts = []
    for title, items in (("missing in the checkpoint", missing), ("not in the model", unexpected), ("shapes differ", shapes)):
        if items:
            more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
            parts.append(f"{title}: {', '.join(items[:limit])}{more}")
    return "; ".join(parts)


def build_model(card: Card, where: str = "card") -> torch.nn.Module:
    """The (untrained) model a card describes, built through the registry."""
    from core import models

    if card.model not in models.available():
        raise CheckpointError(
            f"{where} names model '{card.model}', which this serwb does not have. "
            f"Known models: {', '.join(models.available())}. Update serwb or use a checkpoint of a known model."
        )
    try:
        return models.build(card.model, card.num_classes, **dict(card.model_config))
    except (TypeError, ValueError, ConfigError) as e:
        raise CheckpointError(
            f"{where}: model '{card.model}' cannot be built from config {dict(card.model_config)} ({e}). "
            "The card was edited or written by another serwb version; re-save the checkpoint."
        ) from None


def load(path: str | os.PathLike, device: str | torch.device = "auto", *, verify_hash: bool = True) -> tuple[torch.nn.Module, Card]:
    """Rebuild the model of a checkpoint folder on ``device`` (in eval mode) and return it with its card."""
    folder = _checkpoint_dir(path)
    card = _read_card(folder)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"'{folder}' has {CARD} but no {WEIGHTS}. Copy the whole checkpoint folder.")
    if verify_hash and card.weights_sha256:
        actual = sha256_file(weights)
        if actual != card.weights_sha256:
            raise CheckpointError(
                f"{weights} does not match its card: SHA-256 {actual[:12]}... but the card says "
                f"{card.weights_sha256[:12]}.... The weights were changed or the folder mixes two checkpoints; "
                "copy the checkpoint folder again from its source."
            )
    if len(card.labels) != card.num_classes:
        raise CheckpointError(
            f"{folder / CARD} lists {len(card.labels)} labels for a model with {card.num_classes} outputs; re-save the checkpoint."
        )
    model = build_model(card, str(folder / CARD))
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights} is not a readable safetensors file ({e}). {_CONVERT_HINT}") from None
    expected = model.state_dict()
    report = _shape_report(expected, state)
    if report:
        raise CheckpointError(
            f"The weights in {weights} do not fit model '{card.model}' with config {dict(card.model_config)}: {report}. "
            "The card and weights come from different models; re-save the checkpoint from the trained model."
        )
    model.load_state_dict(state, strict=True)
    return model.to(devices.resolve(device)).eval(), card


# ------------------------------------------------------------------------------ nested state <-> safetensors + JSON


def flatten_state(state: Any, prefix: str = "") -> tuple[Any, dict[str, torch.Tensor]]:
    """Split nested dicts/lists/tuples holding tensors into a JSON skeleton and a flat tensor dict.

    Tensors become ``{"__tensor__": key}``; tuples ``{"__tuple__": [...]}``; dicts with non-string
    keys (an optimizer's parameter indices) ``{"__items__": [[key, value], ...]}``.
    """
    tensors: dict[str, torch.Tensor] = {}

    def walk(value: Any, key: str) -> Any:
        if isinstance(value, torch.Tensor):
            tensors[key] = value.detach().to("cpu").contiguous().clone()
            return {"__tensor__": key}
        if isinstance(value, tuple):
            return {"__tuple__": [walk(v, f"{key}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [walk(v, f"{key}.{i}") for i, v in enumerate(value)]
        if isinstance(value, Mapping):
            if all(isinstance(k, str) for k in value):
                return {k: walk(v, f"{key}.{k}") for k, v in value.items()}
            return {"__items__": [[k, walk(v, f"{key}.{k}")] for k, v in value.items()]}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise CheckpointError(f"Training state at '{key}' holds a {type(value).__name__}, which cannot be stored without pickle.")

    return walk(state, prefix or "state"), tensors


def unflatten_state(skeleton: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of ``flatten_state``."""
    if isinstance(skeleton, list):
        return [unflatten_state(v, tensors) for v in skeleton]
    if isinstance(skeleton, dict):
        if set(skeleton) == {"__tensor__"}:
            try:
                return tensors[skeleton["__tensor__"]]
            except KeyError:
                raise CheckpointError(f"Training state lacks tensor '{skeleton['__tensor__']}'; the checkpoint is incomplete.") from None
        if set(skeleton) == {"__tuple__"}:
            return tuple(unflatten_state(v, tensors) for v in skeleton["__tuple__"])
        if set(skeleton) == {"__items__"}:
            return {k: unflatten_state(v, tensors) for k, v in skeleton["__items__"]}
        return {k: unflatten_state(v, tensors) for k, v in skeleton.items()}
    return skeleton


def save_state(folder: Path, name: str, state: Any) -> None:
    """Write nested ``state`` as ``folder/name.safetensors`` + ``folder/name.json``."""
    skeleton, tensors = flatten_state(state, name)
    save_file(tensors, str(folder / f"{name}.safetensors"))
    (folder / f"{name}.json").write_text(json.dumps(skeleton, indent=1) + "\n", encoding="utf-8")


def load_state(folder: Path, name: str) -> Any:
    """Read what ``save_state`` wrote."""
    try:
        skeleton = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        tensors = load_file(str(folder / f"{name}.safetensors"), device="cpu")
    except (OSError, json.JSONDecodeError, SafetensorError) as e:
        raise CheckpointError(f"Cannot read training state '{name}' in {folder} ({e}); start the run again without --resume.") from None
    return unflatten_state(skeleton, tensors)

