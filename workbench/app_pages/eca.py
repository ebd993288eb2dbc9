"""ECA: per-emotion mean channel weights of each efficient-channel-attention block (S0's figure).

Over a shipped corpus (its labels: the real Polish one, or the synthetic demo; the model's own
training corpus first) or over the clips added in this session (grouped by the emotion the model
predicts for them), with the spread, and the current clip's gates on top.
Profiles come from ``core.explain.dataset.analyze_dataset`` (corpora) or ``analyses.submit_eca`` (session clips and
the current clip's gates), both background jobs: the page only draws.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import SerwbError
from workbench import analyses, checkpoints, datasets, state
from workbench.components import dataset_figures
from workbench.components.errors import show_error
from workbench.components.progress import wait_one

SOURCES = {
    "real": "Real Polish corpus, every clip (the real-speech models were trained on all of them)",
    "demo-test": "Demo corpus, held-out test speakers",
    "demo-all": "Demo corpus, all train and test clips",
    "session": "Clips added in this session (grouped by predicted emotion)",
}

st.title("ECA channel weights")
loaded, error = state.current_model()
if error is not None:
    show_error(error, where="Model")
    st.stop()
if not loaded.spec.eca_taps:
    st.info(f"Model '{loaded.name}' has no efficient-channel-attention blocks. Pick a cnn-eca model in the sidebar "
            "to see its per-emotion channel weights.", icon=":material/info:")
    st.stop()
st.caption(f"Model **{loaded.name}**: ECA after {', '.join(loaded.spec.eca_taps)}. Each line is one emotion's mean "
           "sigmoid gate per channel (S0 plots blocks 5 and 6 this way); the band is ± one standard deviation.")


def _session_profiles(loaded):
    clips = [c for c in state.clips().values() if not c.is_silent]
    if not clips:
        return None, "No clips with sound in this session yet: add some on the Explain page."
    result, message = wait_one(analyses.submit_eca(clips, loaded), "ECA gates of this session's clips")
    return (result.profiles if result is not None else None), message


@st.fragment
def eca_view(path: str) -> None:
    loaded = checkpoints.load(path)
    left, right = st.columns([3, 1])
    if st.session_state.get("eca_source_model") != path or "eca_source" not in st.session_state:
        # a new model (or a return to this page) starts on the model's own training corpus
        st.session_state["eca_source_model"] = path
        st.session_state["eca_source"] = "real" if state.training_corpus(loaded.card) == "polish" else "demo-test"
    source = left.radio("Profiles over", list(SOURCES), format_func=SOURCES.get, key="eca_source")
    spread = right.toggle("Show spread (± std)", value=True, key="eca_spread")
    if source == "session":
        profiles, message = _session_profiles(loaded)
    else:
        try:
            manifest = (state.real_manifest() if source == "real" else
                        state.demo_manifest().filter(split="test" if source == "demo-test" else ["train", "test"]))
        except SerwbError as e:
            show_error(e, where="Real corpus" if source == "real" else "Demo corpus")
            return
        missing = [label for label in loaded.labels if label not in manifest.labels()]
        if missing:
            st.info(f"This corpus has no {', '.join(missing)} clips (the model's other classes): their lines are "
                    "missing. The model's own training corpus covers every class.", icon=":material/info:")
        result, message = wait_one(datasets.submit(loaded, manifest, methods=()), SOURCES[source])
        profiles = result.eca if result is not None else None
        if result is not None and result.skipped:
            st.warning(f"{len(result.skipped)} clip(s) could not be read and were left out.", icon=":material/warning:")
    if message is not None:
        st.error(message, icon=":material/error:")
        return

    current, clip = None, state.current_clip()
    if clip is not None and not clip.is_silent:
        result, message = wait_one(analyses.submit_eca([clip], loaded), f"ECA gates of {clip.name}")
        if message is None:
            current = result.gates[clip.sha256]
            st.markdown(f"Black dotted line: **{clip.name}** (predicted **{result.predicted[clip.sha256]}**).")
    st.plotly_chart(dataset_figures.eca(profiles, current, spread=spread), width="stretch", key="eca_figure")

    st.markdown("##### Channels whose weight differs most between emotions")
    rows = []
    for tap, profile in profiles.items():
        for rank, channel in enumerate(profile.separating_channels(k=8), start=1):
            rows.append({"block": tap, "rank": rank, "channel": int(channel),
                         **{label: float(profile.mean[i, channel]) for i, label in enumerate(profile.labels)
                            if profile.count[i] > 0}})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


eca_view(loaded.path)
