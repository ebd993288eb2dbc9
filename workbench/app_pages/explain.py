"""Explain: add clips (upload, record, demo) and inspect their waveform and log-mel spectrogram.

Model predictions and attribution overlays arrive with the models and attribution issues.
"""

import streamlit as st

from core.errors import SerwbError
from core.features import PRESETS
from workbench import state
from workbench.components import figures
from workbench.components.errors import show_error

st.title("Explain a clip")

upload_tab, record_tab, demo_tab = st.tabs(["Upload", "Record", "Demo clips"])

with upload_tab:
    uploads = st.file_uploader(
        "Speech clips (WAV, FLAC, OGG, MP3)",
        type=["wav", "flac", "ogg", "mp3"],
        accept_multiple_files=True,
        help=f"Up to {state.MAX_CLIP_SECONDS:.0f} s per clip.",
    )
    # Each upload is decoded once; its outcome (clip hash or error) is remembered by file id,
    # so a bad file shows its message without disturbing clips already added.
    outcomes = st.session_state.setdefault("upload_outcomes", {})
    for upload in uploads or []:
        if upload.file_id not in outcomes:
            try:
                outcomes[upload.file_id] = ("ok", state.add_clip(upload, upload.name).sha256)
            except SerwbError as e:
                outcomes[upload.file_id] = ("error", str(e))
        kind, detail = outcomes[upload.file_id]
        if kind == "error":
            st.error(detail, icon=":material/error:")

with record_tab:
    recording = st.audio_input("Record a clip with your microphone")
    if recording is not None:
        try:
            state.add_clip(recording, "recording.wav")
        except SerwbError as e:
            show_error(e, where="Recording")

with demo_tab:
    try:
        manifest = state.demo_manifest()
    except SerwbError as e:
        show_error(e, where="Demo corpus")
    else:
        rows = {row.path.name: row for row in manifest.rows}
        picked = st.selectbox("Demo clip", list(rows), index=None, placeholder="Pick a clip of the synthetic corpus")
        if picked:
            row = rows[picked]
            st.caption(f"label **{row.label}** · speaker {row.speaker} · split {row.extra.get('split', '-')}")
            try:
                state.add_clip(row.path.read_bytes(), picked)
            except SerwbError as e:
                show_error(e, where=picked)

clips = state.clips()
if not clips:
    st.info("Add a clip above to see its waveform and spectrogram.", icon=":material/info:")
    st.stop()

names = {sha: f"{clip.name} ({clip.duration:.1f} s)" for sha, clip in clips.items()}
left, right = st.columns([3, 1])
sha = left.selectbox("Clip", list(names), format_func=names.get, index=len(names) - 1)
preset = right.selectbox("Features", [n for n, c in PRESETS.items() if c.kind == "log-mel"], index=7)
clip = clips[sha]

if clip.is_silent:
    st.warning(f"'{clip.name}' is silent: there is nothing for a model to hear.", icon=":material/volume_off:")
st.audio(clip.wave.numpy(), sample_rate=clip.sr)
st.plotly_chart(figures.waveform(clip.wave, clip.sr), width="stretch")
st.plotly_chart(figures.spectrogram(state.spectrogram(sha, preset, clip), PRESETS[preset]), width="stretch")
st.caption(
    f"{clip.duration:.2f} s · decoded from {clip.source_sr} Hz, {clip.source_channels} channel(s) · "
    f"features: {PRESETS[preset].source} · sha256 {clip.sha256[:12]}"
)
