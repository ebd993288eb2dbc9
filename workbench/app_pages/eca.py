"""ECA: per-emotion mean channel weights of each efficient-channel-attention block (S0's figure), as one
heatmap per block (emotions x channels, sorted by between-emotion spread; the within-emotion spread on demand).

Over a shipped corpus (its labels: the real Polish one, or the synthetic demo; the model's own
training corpus first) or over the clips added in this session (grouped by the emotion the model
predicts for them), with the current clip's gates as a last row, and the channels ranked by how much
their mean differs between emotions (no ranking with a single emotion: nothing differs). Over a corpus, a
model with BatchNorm layers can be adapted to each speaker (AdaBN, ``workbench.components.adaptation``), by
default where it trained with speaker batches, as on the Dataset page. Profiles come from
``core.explain.dataset.analyze_dataset`` (corpora) or ``analyses.submit_eca`` (session clips and the current
clip's gates), both background jobs: the page only draws.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import SerwbError
from workbench import analyses, checkpoints, datasets, state
from workbench.components import adaptation, dataset_figures
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
blocks = [dataset_figures.block_title(tap).lower() for tap in loaded.spec.eca_taps]
st.caption(f"Model **{loaded.name}**. Efficient channel attention (ECA) scales every channel of a conv block by a "
           "learnt sigmoid weight between 0 and 1, computed from the clip itself. Kim & Kwon (S0) plot each emotion's mean weight "
           f"per channel for {' and '.join(blocks)}; here each block is a heatmap with one row per emotion and one "
           "column per channel, the channels whose weight differs most between emotions first. Blocks are counted "
           "from 1, as in their paper (" + ", ".join(f"{b} is module `{t}`" for b, t in zip(blocks, loaded.spec.eca_taps))
           + ").")

#: Channels ranked per block below the heatmaps.
TOP = 8
#: Short headers for the ranking table, each explained on hover.
RANKING_COLUMNS = {
    "spread between emotions": st.column_config.NumberColumn(
        "spread", format="%.4f", help="Standard deviation of the emotions' mean weights for this channel."),
    "std within emotions": st.column_config.NumberColumn(
        "within", format="%.4f", help="Standard deviation of single clips' weights inside an emotion, pooled."),
    "spread / within": st.column_config.NumberColumn(
        "ratio", format="%.2f", help="spread / within: how far apart the emotions' means lie next to the noise."),
    "highest": st.column_config.TextColumn(help="The emotion with the highest mean weight, and that mean."),
    "lowest": st.column_config.TextColumn(help="The emotion with the lowest mean weight, and that mean."),
}


def _session_profiles(loaded):
    clips = [c for c in state.clips().values() if not c.is_silent]
    result, message = wait_one(analyses.submit_eca(clips, loaded), "ECA gates of this session's clips")
    return (result.profiles if result is not None else None), message


def _ranking(profile, k: int) -> pd.DataFrame:
    """The ``k`` channels with the largest between-emotion spread, with the numbers to judge it by."""
    spread, within = profile.between_emotion_spread(), profile.within_emotion_std()
    present = [i for i, n in enumerate(profile.count) if n > 0]
    rows = []
    for rank, channel in enumerate(profile.separating_channels(k), start=1):
        means = {profile.labels[i]: float(profile.mean[i, channel]) for i in present}
        high, low = max(means, key=means.get), min(means, key=means.get)
        rows.append({"rank": rank, "channel": int(channel), "spread between emotions": float(spread[channel]),
                     "std within emotions": float(within[channel]),
                     "spread / within": float(spread[channel] / within[channel]) if within[channel] > 0 else None,
                     "highest": f"{high} {means[high]:.3f}", "lowest": f"{low} {means[low]:.3f}"})
    return pd.DataFrame(rows)


@st.fragment
def eca_view(path: str) -> None:
    loaded = checkpoints.load(path)
    left, right = st.columns([3, 2])
    if st.session_state.get("eca_source_model") != path or "eca_source" not in st.session_state:
        # a new model (or a return to this page) starts on the model's own training corpus
        st.session_state["eca_source_model"] = path
        st.session_state["eca_source"] = "real" if state.training_corpus(loaded.card) == "polish" else "demo-test"
    source = left.radio("Profiles over", list(SOURCES), format_func=SOURCES.get, key="eca_source")
    show = right.radio("Colour shows", list(dataset_figures.ECA_SHOWS), format_func=dataset_figures.ECA_SHOWS.get,
                       key="eca_show",
                       help="Mean weight: the per-emotion means Kim & Kwon plot. Difference: each emotion's mean minus the average "
                            "of the emotions' means, so what sets an emotion apart stands out. Spread: the standard "
                            "deviation of single clips' weights within an emotion.")
    if source == "session":
        if not any(not c.is_silent for c in state.clips().values()):
            st.info("No clips with sound in this session yet: add some on the Explain page.", icon=":material/info:")
            return
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
            st.info(f"This corpus has no {', '.join(missing)} clips (the model's other classes): their rows are "
                    "missing. The model's own training corpus covers every class.", icon=":material/info:")
        adapt = adaptation.checkbox(loaded, manifest.rows, key="eca_adapt")
        job = datasets.submit(loaded, manifest, methods=(), adapt_speakers=adapt)
        result, message = wait_one(job, SOURCES[source])
        profiles = result.eca if result is not None else None
        if result is not None:
            st.caption(adaptation.note(result.adaptation) + (" The current clip's row uses the model as trained, as "
                                                             "the Explain page predicts one clip." if adapt and state.current_clip() else ""))
        if result is not None and result.skipped:
            st.warning(f"{len(result.skipped)} clip(s) could not be read and were left out.", icon=":material/warning:")
    if message is not None:
        st.error(message, icon=":material/error:")
        return

    first = next(iter(profiles.values()))
    present = [(label, int(n)) for label, n in zip(first.labels, first.count) if n > 0]
    single = len(present) < 2
    if single:
        listed = ", ".join(f"{label} (n={n})" for label, n in present) or "none"
        st.info(f"Only one emotion has clips here: {listed}. With one emotion nothing differs between emotions, so "
                "the channels are not ranked (they are shown in index order). Choose a corpus above, or add clips "
                "the model predicts as other emotions."
                + (" The difference view needs two emotions: the mean weight is shown." if show == "difference" else ""),
                icon=":material/info:")
        show = "mean" if show == "difference" else show

    current, clip = None, state.current_clip()
    if clip is not None and not clip.is_silent and show != "spread":
        result, message = wait_one(analyses.submit_eca([clip], loaded), f"ECA gates of {clip.name}")
        if message is None:
            current = result.gates[clip.sha256]
            st.markdown(f"Under each heatmap, **current clip**: {clip.name} "
                        f"(predicted **{result.predicted[clip.sha256]}**).")
    for tap, figure in dataset_figures.eca(profiles, current, show=show).items():
        st.plotly_chart(figure, width="stretch", key=f"eca_figure:{tap}")

    st.subheader("Channels whose weight differs most between emotions")
    if single:
        st.info("No ranking: it needs at least two emotions with clips.", icon=":material/info:")
        return
    st.caption("**Spread**: the standard deviation of the emotions' mean weights for the channel (what the heatmap "
               "columns are sorted by). **Within**: how much single clips vary inside an emotion (pooled). A "
               "channel separates emotions where the dots sit apart by more than their whiskers (for two emotions, "
               "a **ratio** of 0.5 puts their means one within-emotion std apart).")
    for tap, profile in profiles.items():
        st.markdown(f"**{dataset_figures.block_title(tap)}**: the {TOP} channels with the largest spread")
        chart, table = st.columns([1, 1])
        chart.plotly_chart(dataset_figures.eca_top_channels(profile, TOP), width="stretch", key=f"eca_top:{tap}")
        table.dataframe(_ranking(profile, TOP), hide_index=True, width="stretch", column_config=RANKING_COLUMNS)


eca_view(loaded.path)
