"""Corpus: what a shipped corpus (the synthetic demo, the real Polish one) holds, per label,
speaker and split, and where it comes from (licence, citation) per ``core.data.provenance``."""

import pandas as pd
import streamlit as st

from core.data import provenance
from core.data.corpora import Manifest, load_manifest
from core.errors import SerwbError
from workbench import state
from workbench.components.errors import show_error

#: The corpora shipped in assets/ (the first is the default); one missing from a checkout is not listed.
SHIPPED = {
    "Demo corpus (synthetic, English)": state.DEMO_CORPUS,
    "Emotions in Polish speech recordings (real, acted)": state.ROOT / "assets" / "polish",
}


@st.cache_resource(show_spinner=False)
def shipped_manifest(root: str) -> Manifest:
    return load_manifest(root)


st.title("Corpus")
choice = st.selectbox("Corpus", [name for name, root in SHIPPED.items() if root.is_dir()], key="corpus_page")
if SHIPPED[choice] == state.DEMO_CORPUS:
    st.write(
        "Synthetic emotional speech made with espeak-ng (see the README). Test speakers are held out "
        "from training; planted-cue clips hide one emotional phrase in neutral speech and record where it is."
    )
try:
    manifest = state.demo_manifest() if SHIPPED[choice] == state.DEMO_CORPUS else shipped_manifest(str(SHIPPED[choice]))
except SerwbError as e:
    show_error(e, where=choice)
    st.stop()

meta = provenance.info(manifest.corpus)
if meta is not None:
    st.markdown(f"**{meta.title}**: {meta.language}, {meta.speech} speech.  \n"
                f"**Licence:** {meta.licence}  \n**Cite as:** {meta.citation}  \n**Source:** {meta.url}")

table = pd.DataFrame(
    [{"file": r.path.name, "label": r.label, "speaker": r.speaker, **dict(r.extra)} for r in manifest.rows]
)
c1, c2, c3 = st.columns(3)
c1.metric("clips", len(table))
c2.metric("speakers", table["speaker"].nunique())
c3.metric("emotions", table["label"].nunique())
by = "split" if "split" in table else "speaker"
st.subheader(f"Clips per emotion and {by}")
st.dataframe(pd.crosstab(table["label"], table[by]), width="stretch")
st.subheader("All clips")
st.dataframe(table, width="stretch", hide_index=True)
