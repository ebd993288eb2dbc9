"""Corpus: what the shipped demo corpus holds, per label, speaker and split."""

import pandas as pd
import streamlit as st

from core.errors import SerwbError
from workbench import state
from workbench.components.errors import show_error

st.title("Demo corpus")
st.write(
    "Synthetic emotional speech made with espeak-ng (see the README). Test speakers are held out "
    "from training; planted-cue clips hide one emotional phrase in neutral speech and record where it is."
)
try:
    manifest = state.demo_manifest()
except SerwbError as e:
    show_error(e, where="Demo corpus")
    st.stop()

table = pd.DataFrame(
    [{"file": r.path.name, "label": r.label, "speaker": r.speaker, **dict(r.extra)} for r in manifest.rows]
)
c1, c2, c3 = st.columns(3)
c1.metric("clips", len(table))
c2.metric("speakers", table["speaker"].nunique())
c3.metric("emotions", table["label"].nunique())
st.subheader("Clips per emotion and split")
st.dataframe(pd.crosstab(table["label"], table.get("split", "all")), width="stretch")
st.subheader("All clips")
st.dataframe(table, width="stretch", hide_index=True)
