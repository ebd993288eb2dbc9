"""Ways to add clips: upload (several at once), record in the browser, or pick a shipped example clip:
real Polish words first, then the synthetic demo corpus and the planted-cue clips (``state.clip_sets``).

Each input is handled in its widget's callback, which runs before the sidebar is drawn, so a
new clip becomes the current one at once. A file that fails to decode leaves its message next
to the uploader (kept by the upload's id, naming the file) and changes nothing else; a message is dropped
once a later clip has come in, so no banner stands above an unrelated clip.
"""

from __future__ import annotations

import time

import streamlit as st

from core.audio import MIN_SECONDS
from core.errors import SerwbError
from workbench import state

UPLOAD_KEY = "upload_files"
RECORD_KEY = "record_clip"
DEMO_KEY = "demo_clip"
SET_KEY = "demo_set"
OUTCOMES = "upload_outcomes"


def _outcomes() -> dict[str, tuple[str, str, int]]:
    """Per upload id: ("ok", clip SHA-256) or ("error", message), and ``state.clips_added()`` at the time."""
    return st.session_state.setdefault(OUTCOMES, {})


def _take_uploads(make_current: bool = True) -> None:
    outcomes = _outcomes()
    for upload in st.session_state.get(UPLOAD_KEY) or []:
        if upload.file_id not in outcomes:
            try:
                clip = state.add_clip(upload, upload.name, make_current=make_current)
                outcomes[upload.file_id] = ("ok", clip.sha256, state.clips_added())
            except SerwbError as e:
                outcomes[upload.file_id] = ("error", f"**{upload.name}**: {e}", state.clips_added())


def _current_error(key: str) -> str | None:
    """The message kept under ``key`` if no clip came in after it."""
    kept = st.session_state.get(key)
    return kept[0] if kept and kept[1] == state.clips_added() else None


def _take_recording() -> None:
    recording = st.session_state.get(RECORD_KEY)
    if recording is None:
        return
    try:
        state.add_clip(recording, f"recording {time.strftime('%H:%M:%S')}.wav")
    except SerwbError as e:
        st.session_state["record_error"] = (f"**The recording**: {e}", state.clips_added())


def _take_demo() -> None:
    picked = st.session_state.get(DEMO_KEY)
    if not picked:
        return
    try:
        sets, _ = state.clip_sets()
        row = {r.path.name: r for s in sets.values() for r in s.rows}[picked]
        state.add_clip(row.path.read_bytes(), picked)
    except SerwbError as e:
        st.session_state["demo_error"] = (f"**{picked}**: {e}", state.clips_added())


def _new_set() -> None:
    st.session_state.pop(DEMO_KEY, None)  # a clip of the set left is no choice in the new one


def _described(row) -> str:
    """What a picked example is: its label and speaker, and its word, split or planted span."""
    extra = row.extra
    parts = [f"label **{row.label}**", f"speaker {row.speaker}"]
    if extra.get("cue_start") and extra.get("cue_end"):
        parts.append(f"planted {row.label} cue at {float(extra['cue_start']):.2f}–{float(extra['cue_end']):.2f} s")
    elif extra.get("word"):
        parts.append(f"word “{extra['word']}”")
    if extra.get("split") and extra["split"] != "cue":
        parts.append(f"split {extra['split']}")
    return " · ".join(parts)


def render() -> None:
    upload_tab, record_tab, demo_tab = st.tabs(["Upload", "Record", "Example clips"])
    with upload_tab:
        uploads = st.file_uploader(
            "Speech clips (WAV, FLAC, OGG, MP3)", type=["wav", "flac", "ogg", "mp3"], accept_multiple_files=True,
            key=UPLOAD_KEY, on_change=_take_uploads,
            help=f"From {MIN_SECONDS:g} s up to {state.MAX_CLIP_SECONDS:.0f} s per clip, at most "
                 f"{st.get_option('server.maxUploadSize')} MB per file. Clips longer than twice the model's "
                 "training length are explained window by window, so a 60 s clip takes about 15 times as long "
                 "as a 3 s one.",
        )
        _take_uploads(make_current=False)  # uploads present before a callback could run (e.g. restored widget state)
        for upload in uploads or []:
            kind, detail, when = _outcomes().get(upload.file_id, ("ok", "", 0))
            if kind == "error" and when == state.clips_added():
                st.error(detail, icon=":material/error:")
    with record_tab:
        st.audio_input("Record a clip with your microphone", key=RECORD_KEY, on_change=_take_recording)
        if _current_error("record_error"):
            st.error(_current_error("record_error"), icon=":material/error:")
    with demo_tab:
        sets, errors = state.clip_sets()
        for where, message in errors.items():
            st.error(f"**{where}:** {message}", icon=":material/error:")
        if not sets:
            return
        if st.session_state.get(SET_KEY) not in sets:
            st.session_state[SET_KEY] = next(iter(sets))
        chosen = sets[st.selectbox("Clip set", list(sets), format_func=lambda k: sets[k].title, key=SET_KEY,
                                   on_change=_new_set)]
        st.caption(chosen.note)
        rows = {row.path.name: row for row in chosen.rows}
        picked = st.selectbox("Example clip", list(rows), index=None, key=DEMO_KEY, on_change=_take_demo,
                              format_func=lambda n: f"{n} — {rows[n].label}, {rows[n].speaker}" if n in rows else n,
                              placeholder=f"Pick one of {len(rows)} clips")
        if picked in rows:
            st.caption(_described(rows[picked]))
        if _current_error("demo_error"):
            st.error(_current_error("demo_error"), icon=":material/error:")
