"""Which clips the Dataset and ECA pages may analyse, and their dataset analyses as shared jobs.

A typed folder is accepted only when it resolves (symlinks followed) inside a data root: the
demo corpus, or a folder named in ``SERWB_DATA_ROOTS``. Nothing outside them is opened.
Uploaded clips are written once, by content hash, to a private temporary folder and read as a
corpus: a manifest.csv among them, a known corpus naming (RAVDESS, CREMA-D, ...), or an
emotion word in each file name (``clip_angry.wav``). A set is staged in a ``.tmp-*`` folder and
renamed into place whole, so a server killed while writing one leaves no half set that a later
upload would read; such staging leftovers are swept by the next upload once an hour old.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Sequence

import streamlit as st

from core.data.corpora import Manifest, load_manifest, normalize_label
from core.errors import CorpusError
from core.explain.dataset import analyze_dataset, dataset_key
from workbench import state
from workbench.checkpoints import Loaded
from workbench.jobs import Job

UPLOAD_ROOT = Path(tempfile.gettempdir()) / "serwb-dataset-uploads"
UPLOAD_TTL_S = 24 * 3600  # staged uploads unused for a day are deleted
STAGING_TTL_S = 3600  # a staging folder this old belongs to a killed server
STAGING_PREFIX = ".tmp-"
NAME_MAX_BYTES = 255  # the longest file name Linux file systems store
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


def resolve_folder(raw: str) -> Path:
    """The folder ``raw`` names (relative paths are read from the repository root) if it lies in a data root."""
    text = raw.strip()
    if not text:
        raise CorpusError("Type the path of a corpus folder.")
    path = Path(text).expanduser()
    resolved = (path if path.is_absolute() else state.ROOT / path).resolve()
    roots = state.data_roots()
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise CorpusError(f"'{text}' is outside the folders this workbench may read ({allowed}). "
                          f"Pick a folder inside one of them, or restart with {state.DATA_ROOTS_ENV} set to add one.")
    if not resolved.is_dir():
        raise CorpusError(f"'{text}' is not a folder. Check the path; it must be a corpus folder inside a data root.")
    return resolved


@st.cache_resource(show_spinner="Listing the corpus…", max_entries=16, ttl=120)
def folder_manifest(folder: Path) -> Manifest:
    """The manifest of a checked folder (``resolve_folder``), re-read at most every two minutes."""
    return load_manifest(folder)


def label_from_name(name: str) -> str | None:
    """An emotion word (3+ letters) in a file name, e.g. ``demo-01_s00_angry.wav`` -> ``angry``."""
    for token in re.split(r"[^A-Za-z]+", Path(name).stem):
        if len(token) >= 3 and normalize_label(token):
            return normalize_label(token)
    return None


def uploads_manifest(files: Sequence) -> Manifest:
    """A manifest over uploaded files (Streamlit ``UploadedFile``s), written once per distinct set."""
    if not files:
        raise CorpusError("Upload some clips first.")
    named = {}
    for f in files:
        name = safe_name(f.name)
        if name.lower() == "manifest.csv" or name.lower().endswith(AUDIO_SUFFIXES):
            named[name] = f.getvalue()
    digest = hashlib.sha256(repr(sorted((n, hashlib.sha256(b).hexdigest()) for n, b in named.items())).encode())
    folder = UPLOAD_ROOT / digest.hexdigest()[:20]
    if not folder.is_dir():
        _write(folder, named)
    os.utime(folder)  # in use: keep it out of the next sweep
    _sweep(keep=folder)
    if (folder / "flat" / "manifest.csv").is_file():
        return load_manifest(folder / "flat")  # the user's manifest: its errors are the user's to see
    try:
        return load_manifest(folder / "flat")  # a known corpus naming
    except CorpusError:
        pass
    if not any((folder / "by-label").iterdir()):
        raise CorpusError("None of the uploaded clips says its emotion: name them as a known corpus does "
                          "(RAVDESS, CREMA-D, EMO-DB, SAVEE, TESS), put an emotion word in each name "
                          "(clip_angry.wav), or upload a manifest.csv with columns path,label beside them.")
    return load_manifest(folder / "by-label", corpus="folder")


def safe_name(raw: str) -> str:
    """The file name an upload is stored under: its last path part (a name like ``../../x.wav`` cannot leave the
    staging folder); raises CorpusError when that cannot be a file name."""
    name = Path(raw).name
    if any(ord(c) < 32 for c in name) or len(os.fsencode(name)) > NAME_MAX_BYTES:
        shown = "".join(c if ord(c) >= 32 else f"\\x{ord(c):02x}" for c in name)
        raise CorpusError(f"'{shown[:60]}{'…' if len(shown) > 60 else ''}' cannot be stored as a file name (control "
                          f"characters, or longer than {NAME_MAX_BYTES} bytes). Rename it and upload it again.")
    return name


def _write(folder: Path, named: dict[str, bytes]) -> None:
    """Write the set into a staging folder, then rename it to ``folder`` whole (or drop it if a twin won)."""
    UPLOAD_ROOT.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=UPLOAD_ROOT))
    try:
        (staging / "flat").mkdir()
        (staging / "by-label").mkdir()
        for name, data in named.items():
            (staging / "flat" / name).write_bytes(data)
            label = label_from_name(name)
            if label and name.lower() != "manifest.csv":
                (staging / "by-label" / label).mkdir(exist_ok=True)
                (staging / "by-label" / label / name).write_bytes(data)
        os.rename(staging, folder)
    except OSError as e:
        if not folder.is_dir():
            raise CorpusError(f"The uploaded clips could not be stored on the server ({e.strerror or e}). Upload "
                              "fewer or smaller files, or ask whoever runs the workbench to free space.") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone after the rename; else a twin set was there first


def _sweep(keep: Path, max_age_s: float = UPLOAD_TTL_S, staging_age_s: float = STAGING_TTL_S) -> None:
    """Delete staged upload sets nobody has used for ``max_age_s``, and staging folders a killed server left
    (older than ``staging_age_s``), so the temporary folder stays bounded."""
    now = time.time()
    for folder in UPLOAD_ROOT.iterdir():
        age = staging_age_s if folder.name.startswith(STAGING_PREFIX) else max_age_s
        try:
            if folder != keep and folder.is_dir() and folder.stat().st_mtime < now - age:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # removed by another session meanwhile
            continue


def submit(loaded: Loaded, manifest: Manifest, *, methods: Sequence[str] = ("gradcam",),
           max_clips: int | None = None, adapt_speakers: bool = False) -> Job:
    """Start (or find) the dataset analysis of ``manifest``; its value is a ``DatasetAnalysis``. With
    ``adapt_speakers`` each speaker's clips are analysed by the model adapted to them (AdaBN, core.training.adapt)."""
    methods = tuple(methods)
    analysis_key = dataset_key(manifest, loaded.card, methods, max_clips, adapt_speakers=adapt_speakers)
    key = f"dataset:{loaded.hash}:{analysis_key}"

    def compute(progress):
        return analyze_dataset(loaded.model, loaded.card, manifest, methods=methods, max_clips=max_clips,
                               device="auto", progress=progress, adapt_speakers=adapt_speakers)

    return state.runner().submit(key, compute, label=f"Dataset analysis of {manifest.root.name}")
