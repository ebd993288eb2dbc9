"""Listen: hear what the model attended to.

The Grad-CAM time curve (S3) under the waveform, players for the original, the focus clip and
its complement, phase-preserving keep-only / remove-only versions for each method, and the
Griffin-Lim version; each with the model's probabilities and a WAV download. Smoothing,
threshold and keep share live in a fragment: changing them reruns only this view.
"""

from __future__ import annotations

import streamlit as st

from workbench import analyses, checkpoints, domain, state
from workbench.components import controls, guards, listen_figures, players
from workbench.components.progress import outcome, wait, wait_one

st.title("Listen to an explanation")
clip, loaded = guards.clip_and_model()
seconds = (loaded.card.training or {}).get("seconds")
filled = domain.PADDING_WORDS.get(loaded.card.padding, loaded.card.padding)
st.caption(f"**{clip.name}** with model **{loaded.name}**. The model hears the whole clip"
           + (f", padded about its centre with {filled} to {seconds:g} s (its training length) when shorter"
              if seconds else "")
           + "; every version below is what it heard. The curves show the clip itself"
           + (", the padding cropped." if seconds and clip.duration < seconds else "."))


@st.fragment
def listen_view(sha: str, path: str) -> None:
    clip, loaded = state.clips()[sha], checkpoints.load(path)
    settings = controls.focus(state.settings())
    state.set_settings(settings)
    settings = analyses.fit_to_model(settings, loaded)
    jobs = analyses.submit_all(clip, loaded, settings)
    if "gradcam" not in jobs:
        st.info(f"Model '{loaded.name}' has no convolutional layer for Grad-CAM, so there is no focus clip (Kim & Kwak's Grad-CAM time mask); "
                "the keep / remove versions of its other maps are below.", icon=":material/info:")
    first = "gradcam" if "gradcam" in jobs else next(iter(jobs))
    head, error = wait_one(jobs[first], f"{analyses.TITLES[first]} and its audio versions")
    if error is not None:
        st.error(error, icon=":material/error:")
        return
    curve_slot, prob_slot = st.empty(), st.empty()
    st.markdown("##### Players")
    focus_cols = st.columns(3)
    for col, name in zip(focus_cols, ("original", "focus", "complement")):
        if name in head.audio:
            with col:
                players.player(head, head.audio[name], key="listen")

    rest = {p: j for p, j in jobs.items() if p != first}
    slots = {p: st.empty() for p in rest}
    results, errors = {first: head}, {}

    def on_done(part, job):
        value, message = outcome(job)
        if message is not None:
            errors[part] = message
            slots[part].error(f"**{analyses.TITLES[part]}:** {message}", icon=":material/error:")
        else:
            results[part] = value
            slots[part].empty()

    wait(rest, slots, on_done, label=lambda part: f"{analyses.TITLES[part]} versions")
    merged = analyses.merge(results, settings)
    with curve_slot.container():
        st.plotly_chart(listen_figures.activation(merged, settings.focus.threshold), width="stretch", key="activation")
    with prob_slot.container():
        st.markdown("##### The model's probabilities for each version")
        st.plotly_chart(listen_figures.versions(merged), width="stretch", key="versions")

    if "griffin-lim" in merged.audio:
        with st.columns(3)[0]:
            players.player(merged, merged.audio["griffin-lim"], key="listen")
    methods = [m for m in merged.maps if f"{m}-keep" in merged.audio]
    if methods:
        method = st.radio("Keep-only / remove-only versions of", methods, horizontal=True,
                          format_func=lambda m: analyses.TITLES.get(m, m), key="listen_method")
        keep_col, remove_col, _ = st.columns(3)
        for col, kind in ((keep_col, "keep"), (remove_col, "remove")):
            with col:
                players.player(merged, merged.audio[f"{method}-{kind}"], key="listen")


listen_view(clip.sha256, loaded.path)
