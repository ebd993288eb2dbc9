"""Ways to add clips: upload (several at once), record in the browser, or pick a demo clip.

Each input is handled in its widget's callback, which runs before the sidebar is drawn, so a
new clip becomes the current one at once. A file that fails to decode leaves its message next
to the uploader (kept by the upload's id) and changes nothing else.
"""

from __future__ import annotations

import time

import streamlit as st

from core.errors import SerwbError
from workbench import state

UPLOAD_KEY = "upload_files"
RECORD_KEY = "record_clip"
DEMO_KEY = "demo_clip"
OUTCOMES = "upload_outcomes"


def _outcomes() -> dict[str, tuple[str, str]]:
    return st.session_state.setdefault(OUTCOMES, {})


def _take_uploads(make_current: bool = True) -> None:
    outcomes = _outcomes()
    for upload in st.session_state.get(UPLOAD_KEY) or []:
        if upload.file_id not in outcomes:
            try:
                clip = state.add_clip(upload, upload.name, make_current=make_current)
                outcomes[upload.file_id] = ("ok", clip.sha256)
            except SerwbError as e:
                outcomes[upload.file_id] = ("error", str(e))


def _take_recording() -> None:
    recording = st.session_state.get(RECORD_KEY)
    if recording is None:
        return
    try:
        state.add_clip(recording, f"recording {time.strftime('%H:%M:%S')}.wav")
        st.session_state.pop("record_error", None)
    except SerwbError as e:
        st.session_state["record_error"] = str(e)


def _take_demo() -> None:
    picked = st.session_state.get(DEMO_KEY)
    if not picked:
        return
    try:
        row = {r.path.name: r for r in state.demo_manifest().rows}[picked]
        state.add_clip(row.path.read_bytes(), picked)
        st.session_state.pop("demo_error", None)
    except SerwbError as e:
        st.session_state["demo_error"] = str(e)


def render() -> None:
    upload_tab, record_tab, demo_tab = st.tabs(["Upload", "Record", "Demo clips"])
    with upload_tab:
        uploads = st.file_uploader(
            "Speech clips (WAV, FLAC, OGG, MP3)", type=["wav", "flac", "ogg", "mp3"], accept_multiple_files=True,
            key=UPLOAD_KEY, on_change=_take_uploads, help=f"Up to {state.MAX_CLIP_SECONDS:.0f} s per clip.",
        )
        _take_uploads(make_current=False)  # uploads present before a callback could run (e.g. restored widget state)
        for upload in uploads or []:
            kind, detail = _outcomes().get(upload.file_id, ("ok", ""))
            if kind == "error":
                st.error(detail, icon=":material/error:")
    with record_tab:
        st.audio_input("Record a clip with your microphone", key=RECORD_KEY, on_change=_take_recording)
        if st.session_state.get("record_error"):
            st.error(st.session_state["record_error"], icon=":material/error:")
    with demo_tab:
        try:
            manifest = state.demo_manifest()
        except SerwbError as e:
            st.error(f"**Demo corpus:** {e}", icon=":material/error:")
            return
        rows = {row.path.name: row for row in manifest.rows}
        picked = st.selectbox("Demo clip", list(rows), index=None, key=DEMO_KEY, on_change=_take_demo,
                              placeholder="Pick a clip of the synthetic corpus")
        if picked:
            row = rows[picked]
            st.caption(f"label **{row.label}** · speaker {row.speaker} · split {row.extra.get('split', '-')}")
        if st.session_state.get("demo_error"):
            st.error(st.session_state["demo_error"], icon=":material/error:")
