"""What pages that explain the current clip need first: a clip, a usable model, sound in the clip."""

from __future__ import annotations

import streamlit as st

from core.audio import Clip
from workbench import state
from workbench.checkpoints import Loaded
from workbench.components.errors import show_error


def clip_and_model(*, allow_silent: bool = False) -> tuple[Clip, Loaded]:
    """The current clip and model, or a message in place and ``st.stop()``."""
    clip = state.current_clip()
    loaded, error = state.current_model()
    if clip is None:
        st.info("No clip yet: add one on the Explain page (upload, record or pick a demo clip).",
                icon=":material/info:")
        st.page_link("app_pages/explain.py", label="Go to Explain", icon=":material/graphic_eq:")
        st.stop()
    if error is not None:
        show_error(error, where="Model")
        st.stop()
    if clip.is_silent and not allow_silent:
        st.warning(f"'{clip.name}' is silent: there is nothing for a model to hear, so there is nothing to explain. "
                   "Add a clip with speech in it.", icon=":material/volume_off:")
        st.stop()
    return clip, loaded
