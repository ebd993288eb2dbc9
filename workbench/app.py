"""serwb workbench entry point: `streamlit run workbench/app.py` from the repository root.

The sidebar (model and clip pickers) is drawn here, before the page, so every page shares it.
"""

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts workbench/ on sys.path, not the repository root that holds `core`.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from workbench.components import sidebar  # noqa: E402

st.set_page_config(page_title="serwb — explain speech emotion models", page_icon="🎙️", layout="wide")

# Page paths are relative to this script.
navigation = st.navigation(
    [
        st.Page("app_pages/explain.py", title="Explain", icon=":material/graphic_eq:", default=True),
        st.Page("app_pages/listen.py", title="Listen", icon=":material/hearing:"),
        st.Page("app_pages/compare.py", title="Compare", icon=":material/compare:"),
        st.Page("app_pages/eca.py", title="ECA", icon=":material/tune:"),
        st.Page("app_pages/dataset.py", title="Dataset", icon=":material/dataset:"),
        st.Page("app_pages/corpus.py", title="Corpus", icon=":material/library_music:"),
    ]
)
sidebar.render()
navigation.run()
