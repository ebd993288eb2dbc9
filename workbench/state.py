"""Shared, cached resources and per-session state. Cached by explicit keys (SHA-256, names),
never by Streamlit hashing large arrays."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
import torch

from core.audio import Clip, load_audio
from core.data.corpora import Manifest, load_manifest
from core.features import PRESETS, log_mel

ROOT = Path(__file__).resolve().parent.parent
DEMO_CORPUS = ROOT / "assets" / "demo"
#: Uploads longer than this are refused (the byte limit is server.maxUploadSize).
MAX_CLIP_SECONDS = 60.0


@st.cache_resource(show_spinner=False)
def demo_manifest() -> Manifest:
    """The shipped synthetic corpus (read once per server)."""
    return load_manifest(DEMO_CORPUS)


def clips() -> dict[str, Clip]:
    """This session's clips by SHA-256, in the order they were added."""
    return st.session_state.setdefault("clips", {})


def add_clip(source, name: str) -> Clip:
    """Decode and validate a clip and keep it in the session (raises core.errors.AudioError)."""
    data = source if isinstance(source, (bytes, bytearray)) else source.getvalue()
    clip = load_audio(data, max_seconds=MAX_CLIP_SECONDS, name=name)
    clips()[clip.sha256] = clip
    return clip


@st.cache_data(show_spinner=False, max_entries=256)
def spectrogram(sha256: str, preset: str, _clip: Clip) -> torch.Tensor:
    """Log-mel of a session clip, cached by the clip's hash and the preset name."""
    return log_mel(_clip.wave, PRESETS[preset])
