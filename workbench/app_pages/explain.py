"""Explain: add clips, see waveform, spectrogram, probabilities and Grad-CAM / occlusion / LIME overlays.

Grad-CAM appears first; slower methods fill in with their progress. The analysis view is a
fragment: its controls (target, opacity, colour scale, method settings) rerun only it.
"""

from __future__ import annotations

import streamlit as st

from core.audio import to_wav_bytes
from core.explain import export
from core.features import PRESETS
from workbench import analyses, checkpoints, domain, state
from workbench.components import add_clips, controls, figures, model_card, players
from workbench.components.errors import show_error
from workbench.components.progress import outcome, wait

st.title("Explain a clip")
add_clips.render()

clip = state.current_clip()
loaded, model_error = state.current_model()
if clip is None:
    st.info("Add a clip above to see its waveform, spectrogram and what the model made of it.", icon=":material/info:")
    st.stop()

head, card_button = st.columns([4, 1], vertical_alignment="bottom")
head.subheader(clip.name)
if loaded is not None:
    with card_button.popover("Model card", icon=":material/badge:", width="stretch"):
        model_card.render(loaded)

log_mel_presets = [n for n, c in PRESETS.items() if c.kind == "log-mel"]
preferred = loaded.card.feature_preset if loaded is not None else None
wave_col, spec_col = st.columns([2, 3])
with wave_col:
    st.audio(to_wav_bytes(clip.wave, clip.sr), format="audio/wav")  # as decoded: not re-normalised
    st.plotly_chart(figures.waveform(clip.wave, clip.sr), width="stretch")
    shown = preferred if preferred in log_mel_presets else "stft-v8"  # MFCC models: S0's log-mel
    index = log_mel_presets.index(shown) if shown in log_mel_presets else 0
    preset = st.selectbox("Display spectrogram", log_mel_presets, index=index,
                          help="How this picture of the clip is computed (Kim & Kwon's STFT versions v1-v8 and "
                               "the VGGish / YAMNet front ends). Display only: the model always hears its own features "
                               f"({preferred or 'see the model card'}), and the maps below are drawn on those.")
with spec_col:
    st.plotly_chart(figures.spectrogram(state.spectrogram(clip.sha256, preset, clip), PRESETS[preset],
                                        seconds=clip.duration), width="stretch")
st.caption(f"{clip.duration:.2f} s · decoded from {clip.source_sr} Hz, {clip.source_channels} channel(s) · "
           f"features: {PRESETS[preset].source} · sha256 {clip.sha256[:12]}")

if model_error is not None:
    show_error(model_error, where="Model")
    st.stop()
if clip.is_silent:
    st.warning(f"'{clip.name}' is silent: there is nothing for a model to hear, so there is nothing to explain. "
               "Add a clip with speech in it.", icon=":material/volume_off:")
    st.stop()


def _overlays(results, slots, opacity, ranked, draw: int):
    """(Re)draw every finished overlay."""
    for part, analysis in results.items():
        if part not in slots or part == "griffin-lim":
            continue
        with slots[part].container():
            st.markdown(f"**{analyses.TITLES[part]}**")
            if part in analysis.errors:
                st.warning(analysis.errors[part], icon=":material/info:")
            else:
                st.plotly_chart(figures.overlay(analysis, part, opacity=opacity, ranked=ranked), width="stretch",
                                key=f"overlay:{part}:{draw}")


@st.fragment
def analysis_view(sha: str, path: str) -> None:
    clip, loaded = state.clips()[sha], checkpoints.load(path)
    left, right = st.columns([1, 2])
    with left:
        target = controls.target(loaded)
    with right:
        opacity, ranked = controls.display()
    controls.method_picker(loaded)
    settings = controls.methods(loaded, state.settings())
    settings = analyses.ui_settings(settings, target=target)
    state.set_settings(settings)

    jobs = analyses.submit_all(clip, loaded, settings)
    method_parts = [p for p in jobs if p != "griffin-lim"]
    probability_slot = st.empty()
    per_row = min(3, len(method_parts)) or 1  # up to three overlays side by side, then another row
    columns = [col for row in range(0, len(method_parts), per_row) for col in st.columns(per_row)]
    slots = {part: col.empty() for part, col in zip(method_parts, columns)}
    slots["griffin-lim"] = st.empty()
    listen_slot = st.container()
    export_slot = st.empty()  # holds this clip's timings and export; cleared at once, so nothing stale shows
    results, failed = {}, {}

    def on_done(part, job):
        value, error = outcome(job)
        if error is not None:
            failed[part] = error
            slots[part].error(f"**{analyses.TITLES[part]}:** {error}", icon=":material/error:")
            return
        results[part] = value
        if part == "griffin-lim":
            slots[part].empty()
            return
        if len(results) == 1 or part == "gradcam":
            with probability_slot.container():
                _probabilities(value, loaded, draw=len(results))
        _overlays(results, slots, opacity, ranked, draw=len(results))
        if part == "gradcam" and "focus" in value.audio:
            with listen_slot:
                _focus_players(value)

    wait(jobs, slots, on_done, label=lambda part: analyses.TITLES[part])
    if results:  # what finished is exported, with the parts that failed named in its JSON
        with export_slot.container():
            _export(analyses.merge(results, settings), loaded, clip, ranked, failed)


def _probabilities(analysis, loaded, draw: int) -> None:
    target = analysis.labels[analysis.target] + (" (predicted)" if analysis.target == analysis.predicted else "")
    st.markdown(f"**Prediction: {analysis.predicted_label}** · explaining **{target}**")
    st.plotly_chart(figures.probabilities(analysis.labels, analysis.probabilities, target=analysis.target),
                    width="stretch", key=f"probabilities:{draw}")
    if analysis.clip_offset > 0:
        st.caption(domain.padding_note(loaded.card, analysis.clip_seconds, analysis.clip_offset))
    if analysis.window_seconds:
        st.caption(domain.window_note(analysis.clip_seconds, analysis.window_seconds))


def _focus_players(analysis) -> None:
    st.markdown("##### Listen to what Grad-CAM focused on")
    for col, name in zip(st.columns(3), ("original", "focus", "complement")):
        with col:
            players.player(analysis, analysis.audio[name], key="explain", download=False)
    st.page_link("app_pages/listen.py", label="More versions, smoothing and threshold on the Listen page",
                 icon=":material/hearing:")


def _export(analysis, loaded, clip, ranked: bool, failed: dict[str, str]) -> None:
    st.caption("Computed in: " + " · ".join(f"{name} {m.seconds:.2f} s" for name, m in analysis.maps.items())
               + " (wall time, shared machine)")
    st.download_button(
        "Export (ZIP: overlays, PDF report, maps, WAVs, JSON)",
        data=lambda: export.analysis_zip(analysis, card=loaded.card, checkpoint_hash=loaded.hash, clip_name=clip.name,
                                         ranked=ranked, extra={"failed": failed} if failed else None),
        file_name=f"serwb-{clip.name.rsplit('.', 1)[0]}-{loaded.name}.zip", mime="application/zip",
        icon=":material/archive:", on_click="ignore", key="export_analysis",
    )


analysis_view(clip.sha256, loaded.path)
