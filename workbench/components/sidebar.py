"""The sidebar every page shares: which model and which clip. Drawn by app.py before the page runs,
so the pickers keep their state across pages."""

from __future__ import annotations

import streamlit as st

from workbench import checkpoints, domain, state
from workbench.components.errors import show_error


def _shortened(name: str, most: int = 34) -> str:
    """A long clip name cut in the middle, so the start and the extension both stay visible."""
    return name if len(name) <= most else f"{name[:most // 2 - 1]}…{name[-(most // 2 - 1):]}"


def render() -> None:
    with st.sidebar:
        st.header("Model and clip")
        paths = checkpoints.available()
        if not paths:
            st.error(f"No model checkpoints: none in {checkpoints.SHIPPED} and none given with "
                     "`serwb app --models DIR`.", icon=":material/error:")
        else:
            if st.session_state.get(state.MODEL_KEY) not in paths:
                st.session_state[state.MODEL_KEY] = checkpoints.default(list(paths))
            st.selectbox("Model", list(paths), format_func=lambda p: paths.get(p, p), key=state.MODEL_KEY,
                         help="Shipped models (trained on real speech first, then the synthetic demo models), plus "
                              "checkpoint folders given with `serwb app --models DIR`.")
            loaded, error = state.current_model()
            if error is not None:
                show_error(error, where="This checkpoint cannot be used")
            else:
                described = domain.summary(loaded.card)
                if described:
                    st.caption(described)
                st.caption(f"**{loaded.name}** · {len(loaded.labels)} emotions ({', '.join(loaded.labels)}) · "
                           f"{loaded.card.feature_preset} · hash `{loaded.hash[:10]}`")

        clips = state.clips()
        if clips:
            if st.session_state.get(state.CLIP_KEY) not in clips:
                st.session_state[state.CLIP_KEY] = list(clips)[-1]
            st.selectbox("Clip", list(clips), key=state.CLIP_KEY,
                         format_func=lambda sha: f"{_shortened(clips[sha].name)} ({clips[sha].duration:.1f} s)")
            current = clips.get(st.session_state.get(state.CLIP_KEY))
            if current is not None and _shortened(current.name) != current.name:
                st.caption(current.name)  # the whole name, wrapped
        else:
            st.caption("No clip yet: add one on the Explain page.")
