"""Which checkpoints the workbench offers, and loading them once per server.

Offered: every folder under assets/models that holds a card.json (the shipped models: those
trained on real speech first, then the synthetic demo models), plus the folders named by
``SERWB_MODELS`` (``serwb app --models DIR`` sets it; an ``os.pathsep``-separated list, each
entry a checkpoint folder or a folder of them). An entry that holds no checkpoint is still
listed, so that choosing it shows core.checkpoint's message saying what is wrong instead of
silently hiding the user's folder. Each label says whether the model heard real or synthetic
speech (from its card's corpus, ``core.data.provenance``).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
import torch

from core import checkpoint, models
from core.checkpoint import Card
from core.errors import SerwbError
from core.explain import methods as registry
from core.models import ModelSpec
from workbench import domain

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "assets" / "models"
ENV = "SERWB_MODELS"
CARD = checkpoint.CARD
#: The shipped models preferred as the default, in order: real speech first, then the demo's S0 model.
PREFERRED = ("polish-cnn-eca", "polish-cnn-atn", "cnn-eca")


@dataclass(frozen=True, eq=False)
class Loaded:
    """A checkpoint loaded once per server, its ``model`` shared by every session and job thread.

    Thread safety has one mechanism, core's ``model_lock`` (``core.explain.subject``): every forward, hook and copy
    in ``core.explain`` holds the model's lock, because a hook registered by one thread (Grad-CAM's, the ECA
    gates') fires on any thread's forward. torch spreads one forward over every core, so serialising calls per
    model costs little.
    """

    path: str
    model: torch.nn.Module
    card: Card
    hash: str  # core.checkpoint.checkpoint_hash: weights + what the card says changes outputs

    @property
    def name(self) -> str:
        return self.card.model

    @property
    def spec(self) -> ModelSpec:
        return self.model.spec

    @property
    def labels(self) -> tuple[str, ...]:
        return self.card.labels

    @property
    def methods(self) -> tuple[str, ...]:
        """Attribution methods this model supports, in the registry's order (Grad-CAM, the cheapest, leads)."""
        return registry.applicable(self.model)

    @property
    def default_methods(self) -> tuple[str, ...]:
        """What a page shows until the user picks methods: the registry's defaults this model supports."""
        return registry.defaults_for(self.model)


def _children(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and (p / CARD).is_file())
    except OSError:
        return []


def _short(path: Path) -> str:
    """A checkpoint's name for the picker: ``serwb train --out DIR`` writes DIR/model, so say DIR."""
    return f"{path.parent.name}/{path.name}" if path.name == "model" else path.name


@functools.lru_cache(maxsize=128)
def _card(path: str, stamp: tuple) -> Card | None:
    try:
        return checkpoint.read_card(path)
    except (SerwbError, OSError):
        return None  # said in full when the checkpoint is chosen (``load``)


def card(path: str) -> Card | None:
    """A checkpoint's card without its weights (None when unreadable), re-read when the file changes."""
    return _card(str(path), _stamp(str(path)))


def kind(path: str) -> str | None:
    """What speech the model was trained on, for its label: "real Polish speech", "synthetic demo", ..."""
    found = card(path)
    info = domain.corpus(found) if found is not None else None
    if info is None:
        return None
    if info.name in domain.SHORT_TITLES and domain.speech_kind(found) == "synthetic":
        return "synthetic demo"
    return f"{domain.speech_kind(found)} {info.language} speech"


def _is_real(path: str) -> bool:
    found = card(path)
    return found is not None and domain.is_real(found)


def _shipped_order(path: Path) -> tuple:
    """Real-speech models first, the preferred names leading, then by name."""
    name = path.name
    return (not _is_real(str(path)), PREFERRED.index(name) if name in PREFERRED else len(PREFERRED), name)


def available() -> dict[str, str]:
    """``{path: label}`` of every offered checkpoint; extra folders first, then the shipped ones (real speech
    first)."""
    found: dict[str, str] = {}
    for raw in os.environ.get(ENV, "").split(os.pathsep):
        if not raw.strip():
            continue
        folder = Path(raw.strip()).expanduser().resolve()
        inside = [folder] if (folder / CARD).is_file() else _children(folder)
        for path in inside or [folder]:
            described = kind(str(path))
            found.setdefault(str(path), f"{_short(path)} ({described + ', ' if described else ''}{path.parent})")
    for path in sorted(_children(SHIPPED), key=_shipped_order):
        found.setdefault(str(path.resolve()), f"{path.name} ({kind(str(path)) or 'shipped'})")
    return found


def default(paths: list[str]) -> str | None:
    """Prefer a model given on the command line, then a shipped real-speech model (polish-cnn-eca first),
    then the shipped demo cnn-eca, then the first."""
    shipped_root = str(SHIPPED.resolve())
    extra = [p for p in paths if not p.startswith(shipped_root)]
    if extra:
        return extra[0]
    shipped = sorted((Path(p) for p in paths), key=_shipped_order)
    real = [p for p in shipped if _is_real(str(p))]
    if real:
        return str(real[0])
    named = [p for p in shipped if p.name in PREFERRED]
    return str(named[0]) if named else (paths or [None])[0]


def _stamp(path: str) -> tuple:
    """Changes when the checkpoint's files change, so an overwritten checkpoint is reloaded."""
    stamp = []
    for name in (CARD, checkpoint.WEIGHTS):
        try:
            s = (Path(path) / name).stat()
            stamp.append((name, s.st_mtime_ns, s.st_size))
        except OSError:
            stamp.append((name, None, None))
    return tuple(stamp)


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def _load(path: str, stamp: str) -> Loaded:
    model, card = checkpoint.load(path, device="auto")
    return Loaded(path=path, model=model, card=card, hash=checkpoint.checkpoint_hash(path))


def load(path: str) -> Loaded:
    """The loaded checkpoint (raises core.errors.CheckpointError, which is not cached, so a fix is seen)."""
    return _load(path, repr(_stamp(path)))


def describe(name: str) -> str:
    try:
        spec = models.spec(name)
    except Exception:  # noqa: BLE001 - an unknown name is reported by checkpoint.load
        return ""
    described = spec.description
    return described if described.startswith(spec.paper) else f"{spec.paper}: {described}"
