"""Show user-caused errors in place: a message a person can act on, never a traceback."""

from __future__ import annotations

import streamlit as st

from core.errors import SerwbError


def show_error(error: SerwbError, *, where: str = "") -> None:
    prefix = f"**{where}:** " if where else ""
    st.error(f"{prefix}{error}", icon=":material/error:")
