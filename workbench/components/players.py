"""Audio players for an analysis's versions: the sound, what the model makes of it, a WAV download."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.audio import to_wav_bytes
from core.explain import Analysis, AudioVersion

TITLES = {"original": "Original (as the model hears it)", "focus": "Grad-CAM focus clip",
          "complement": "Complement of the focus clip", "griffin-lim": "Griffin-Lim (Grad-CAM keep-only)"}


def title(name: str) -> str:
    if name in TITLES:
        return TITLES[name]
    method, _, kind = name.rpartition("-")
    return f"{method}: {'keep only' if kind == 'keep' else 'remove only'} (phase kept)"


def probability_text(labels, probabilities: np.ndarray) -> str:
    top = int(np.argmax(probabilities))
    return " · ".join(f"**{label} {p:.2f}**" if i == top else f"{label} {p:.2f}"
                      for i, (label, p) in enumerate(zip(labels, probabilities)))


def player(analysis: Analysis, version: AudioVersion, *, key: str, download: bool = True) -> None:
    """Title, description, player (16-bit WAV, not re-normalised), probabilities and a download button."""
    st.markdown(f"**{title(version.name)}**")
    st.caption(version.description)
    data = to_wav_bytes(version.wave, analysis.sr)
    st.audio(data, format="audio/wav")
    st.markdown(probability_text(analysis.labels, version.probabilities))
    if download:
        st.download_button("Download WAV", data=data, file_name=f"{version.name}.wav", mime="audio/wav",
                           key=f"dl:{key}:{version.name}", icon=":material/download:", on_click="ignore")
