"""Shared, cached resources and per-session state. Cached by explicit keys (SHA-256, names),
never by Streamlit hashing large arrays.

Per session (``st.session_state``): the clips added (by SHA-256), which one is current, the
explanation settings (one ``core.explain.Settings`` shared by every page, so Explain, Listen,
Compare and Export ask for the same cached analyses), and display preferences.
Per server (``st.cache_resource``): the shipped corpora and the example clips offered from them
(real speech first), loaded models, the job runner.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import streamlit as st
import torch

from core.audio import Clip, at_rate, load_audio
from core.data.corpora import Manifest, Row, load_manifest
from core.errors import CheckpointError, SerwbError
from core.explain import Settings
from core.features import PRESETS, log_mel
from workbench import checkpoints
from workbench.jobs import Job, JobRunner

ROOT = Path(__file__).resolve().parent.parent
DEMO_CORPUS = ROOT / "assets" / "demo"
#: The shipped real corpus (Emotions in Polish speech recordings) and, when present, its planted-cue set.
REAL_CORPUS = ROOT / "assets" / "polish"
REAL_CUE_CORPUS = ROOT / "assets" / "polish-cue"
#: Uploads longer than this are refused (the byte limit is server.maxUploadSize).
MAX_CLIP_SECONDS = 60.0
#: Extra folders the Dataset page may open (os.pathsep-separated); the demo corpus always may.
DATA_ROOTS_ENV = "SERWB_DATA_ROOTS"

CLIP_KEY = "clip"  # the sidebar's clip picker
MODEL_KEY = "model"  # the sidebar's model picker
ADDED_KEY = "clips_added"


@st.cache_resource(show_spinner=False)
def demo_manifest() -> Manifest:
    """The shipped synthetic corpus (read once per server)."""
    return load_manifest(DEMO_CORPUS)


#: Shipped corpus folders by the corpus name a model card records (``card.data["corpus"]``).
CORPUS_FOLDERS = {"polish": REAL_CORPUS, "serwb-demo": DEMO_CORPUS}


def training_corpus(card) -> str | None:
    """The name of the shipped corpus the model was trained on (None: another corpus, or not recorded)."""
    name = (card.data or {}).get("corpus")
    return name if name in CORPUS_FOLDERS and CORPUS_FOLDERS[name].is_dir() else None


@st.cache_resource(show_spinner=False)
def real_manifest() -> Manifest:
    """The shipped real corpus (read once per server)."""
    return load_manifest(REAL_CORPUS)


@dataclass(frozen=True)
class ClipSet:
    """A group of shipped clips offered on the Explain page."""

    key: str
    title: str
    note: str
    rows: tuple[Row, ...]


def examples(rows, per_group: int = 1) -> list[Row]:
    """A handful of a corpus's clips covering every speaker and emotion: ``per_group`` clips per (speaker,
    emotion), spread over the group (so over words and repetitions) rather than its first files."""
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        groups[(row.speaker, row.label)].append(row)
    chosen = []
    for i, (_, group) in enumerate(sorted(groups.items())):
        group = sorted(group, key=lambda r: r.path.name)
        chosen += [group[(7 * i + j * len(group) // per_group) % len(group)] for j in range(min(per_group, len(group)))]
    return chosen


def _real_sets() -> list[ClipSet]:
    sets = []
    real = real_manifest()
    sets.append(ClipSet(
        "real", "Real speech: Polish words (acted)",
        f"One word per speaker and emotion from *Emotions in Polish speech recordings* (real acted speech, CC BY; all "
        f"{len(real)} clips are on the Corpus page). The shipped real-speech models were trained on every clip of "
        "it, so these are not unseen clips: their speaker-independent score is in the model card.",
        tuple(examples(real.rows))))
    if REAL_CUE_CORPUS.is_dir():
        try:
            cue = load_manifest(REAL_CUE_CORPUS)
        except SerwbError:  # optional: an incomplete planted-cue folder is not offered
            cue = None
        if cue is not None and len(cue):
            sets.append(ClipSet(
                "real-cue", "Planted cues: real Polish",
                "Three real words of one speaker end to end: neutral, the planted angry or fearful word, neutral. "
                "The planted word's span shows when picked.",
                tuple(sorted(cue.rows, key=lambda r: r.path.name))))
    return sets


def _demo_sets() -> list[ClipSet]:
    demo = demo_manifest()
    return [
        ClipSet("demo", "Synthetic demo (espeak-ng)",
                "Synthetic English speech rendered with espeak-ng: training clips and held-out test speakers. "
                "For checking explanations, never a stand-in for real speech.",
                tuple(r for r in demo.rows if r.extra.get("split") != "cue")),
        ClipSet("cue", "Planted cues: synthetic demo",
                "Synthetic neutral speech with one emotional phrase planted at a known time; its span shows when "
                "picked.", tuple(r for r in demo.rows if r.extra.get("split") == "cue")),
    ]


@st.cache_resource(show_spinner=False)
def clip_sets() -> tuple[dict[str, ClipSet], dict[str, str]]:
    """The shipped clips offered on the Explain page, real speech first, by set key; and the message of
    each corpus that could not be read (the other sets are still offered)."""
    sets: dict[str, ClipSet] = {}
    errors: dict[str, str] = {}
    for name, build in (("Real corpus", _real_sets), ("Demo corpus", _demo_sets)):
        try:
            sets |= {s.key: s for s in build() if s.rows}
        except SerwbError as e:
            errors[name] = str(e)
    return sets, errors


JOB_WORKERS = 2


@st.cache_resource(show_spinner=False)
def runner() -> JobRunner:
    """One job runner per server: analyses run once per key whichever session asks.

    The CPU cores are shared out between the workers (torch's intra-op threads): more
    threads than cores makes OpenMP's spinning threads wait on each other, which on a busy
    machine slows everything down many times over.
    """
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // JOB_WORKERS))
    return JobRunner(workers=JOB_WORKERS, max_results=64)


def track(owner: tuple[str, str], jobs: Iterable[Job]) -> None:
    """Remember this session's jobs for ``owner`` (clip SHA-256, model hash) and cancel its unfinished jobs for any
    other clip or model: a new clip or a model switch stops the work nobody is looking at any more."""
    mine: dict[str, tuple[str, str]] = st.session_state.setdefault("_jobs", {})
    stale = [key for key, o in mine.items() if o != owner]
    if stale:
        runner().cancel(stale)
        for key in stale:
            del mine[key]
    mine.update({job.key: owner for job in jobs})


# ------------------------------------------------------------------------------ clips


def clips() -> dict[str, Clip]:
    """This session's clips by SHA-256, in the order they were added."""
    return st.session_state.setdefault("clips", {})


def add_clip(source, name: str, *, make_current: bool = True) -> Clip:
    """Decode and validate a clip and keep it in the session (raises core.errors.AudioError).

    Call it from widget callbacks (they run before the sidebar's clip picker is drawn, so
    the new clip can become the current one).
    """
    data = source if isinstance(source, (bytes, bytearray)) else source.getvalue()
    clip = load_audio(data, max_seconds=MAX_CLIP_SECONDS, name=name)
    clips()[clip.sha256] = clip
    st.session_state[ADDED_KEY] = clips_added() + 1
    if make_current:
        st.session_state[CLIP_KEY] = clip.sha256
    return clip


def clips_added() -> int:
    """How many clips this session has added: a message about an input belongs to the moment it was made, and
    is dropped once a later clip came in."""
    return st.session_state.get(ADDED_KEY, 0)


def current_clip() -> Clip | None:
    sha = st.session_state.get(CLIP_KEY)
    return clips().get(sha) if sha else None


@st.cache_data(show_spinner=False, max_entries=256)
def spectrogram(sha256: str, preset: str, _clip: Clip) -> torch.Tensor:
    """Log-mel of a session clip, cached by the clip's hash and the preset name."""
    return log_mel(at_rate(_clip, PRESETS[preset].sample_rate).wave, PRESETS[preset])


# ------------------------------------------------------------------------------ model


def current_model() -> tuple[checkpoints.Loaded | None, SerwbError | None]:
    """The model picked in the sidebar, or the error that stops it loading (shown in place)."""
    path = st.session_state.get(MODEL_KEY)
    if not path:
        return None, CheckpointError(
            f"No model checkpoint found. Shipped models live in {checkpoints.SHIPPED}; "
            "start the app with `serwb app --models DIR` to add your own."
        )
    try:
        return checkpoints.load(path), None
    except SerwbError as e:
        return None, e


# ------------------------------------------------------------------------------ settings


def settings() -> Settings:
    """The session's explanation settings (core defaults until changed on a page)."""
    return st.session_state.setdefault("settings", Settings())


def set_settings(value: Settings) -> None:
    st.session_state["settings"] = value


def chosen_methods(loaded: checkpoints.Loaded) -> tuple[str, ...]:
    """The attribution methods this session shows for this model (its defaults until the user picks)."""
    chosen = st.session_state.get(f"methods:{loaded.hash}")
    return tuple(m for m in chosen if m in loaded.methods) if chosen is not None else loaded.default_methods


def set_chosen_methods(loaded: checkpoints.Loaded, methods) -> None:
    st.session_state[f"methods:{loaded.hash}"] = tuple(methods)


def target_index(labels: tuple[str, ...]) -> int | None:
    """The chosen target emotion as an index of this model's labels (None: the predicted one).

    Kept as a label so that switching models keeps the choice where the label exists.
    """
    label = st.session_state.get("target_label")
    return labels.index(label) if label in labels else None


def persistent(key: str, seed) -> str:
    """Widget key for a control whose value must survive page switches.

    Streamlit forgets a widget's state when a page without it runs. The widget (key
    ``w:<key>``) is re-seeded with ``seed`` when drawn again: the value from the session's
    ``Settings``, or for display preferences ``stored(key, default)``.
    """
    widget_key = f"w:{key}"
    if widget_key not in st.session_state:
        st.session_state[widget_key] = seed
    return widget_key


def stored(key: str, default):
    """A display preference kept outside widget state (see ``remember``)."""
    return st.session_state.get(key, default)


def remember(key: str) -> object:
    """Copy a persistent widget's value to its stored key and return it."""
    value = st.session_state[f"w:{key}"]
    st.session_state[key] = value
    return value


# ------------------------------------------------------------------------------ data roots


def data_roots() -> list[Path]:
    """Folders the Dataset page may read: the shipped corpora (demo, real) plus ``SERWB_DATA_ROOTS``."""
    roots = [DEMO_CORPUS.resolve()] + [p.resolve() for p in (REAL_CORPUS, REAL_CUE_CORPUS) if p.is_dir()]
    for raw in os.environ.get(DATA_ROOTS_ENV, "").split(os.pathsep):
        if raw.strip():
            roots.append(Path(raw.strip()).expanduser().resolve())
    return list(dict.fromkeys(roots))
