"""Dataset: batch analysis of a corpus folder (inside the data roots only) or of many uploads.

Confusion matrix (click a cell to list its clips for listening), t-SNE of the model embedding
coloured by emotion (S1), per-emotion frequency-attribution profiles (S3), localisation on the
planted-cue clips, and an export. Everything comes from ``core.explain.dataset.analyze_dataset``,
run as a shared background job with its progress; results are cached by clip list, model and
settings, and the last result stays in the session. A model with BatchNorm layers can be adapted to
each named speaker of the corpus (AdaBN, ``core.training.adapt``), as ``core.training.evaluate`` scores
a model trained with speaker batches; the results say whether they were.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core.errors import SerwbError
from core.explain import export
from core.explain.dataset import clips_to_analyse
from core.training.adapt import adapts
from workbench import analyses, checkpoints, datasets, domain, state
from workbench.components import adaptation, dataset_figures
from workbench.components.errors import show_error
from workbench.components.players import probability_text
from workbench.components.progress import wait_one

RESULT = "dataset_result"  # (job key, DatasetAnalysis, source text, model card, model hash) of the last analysis
PENDING = "dataset_pending"  # (job, source text, model card, model hash) of an analysis still running
CELL = "dataset_cell"
PAGE = 8  # clips listed (with players) per page of a confusion cell
st.title("Analyse a dataset")
loaded, error = state.current_model()
if error is not None:
    show_error(error, where="Model")
    st.stop()

roots = state.data_roots()
source = st.radio("Clips", ["folder", "uploads"], horizontal=True, key="dataset_source",
                  format_func={"folder": "A corpus folder", "uploads": "Uploaded clips"}.get)
manifest = None
try:
    if source == "folder":
        own = state.training_corpus(loaded.card)  # the model's own corpus first (relative: the app runs from the root)
        start_folder = state.CORPUS_FOLDERS[own].relative_to(state.ROOT).as_posix() if own else "assets/demo"
        folder = st.text_input("Corpus folder", value=start_folder, key="dataset_folder",
                               help="Readable folders: " + ", ".join(str(r) for r in roots))
        st.caption("Data roots: " + ", ".join(f"`{r}`" for r in roots) + f" (add more with {state.DATA_ROOTS_ENV}).")
        manifest = datasets.folder_manifest(datasets.resolve_folder(folder))
    else:
        files = st.file_uploader("Labelled clips (emotion in the file name, a corpus naming, or with a manifest.csv)",
                                 type=["wav", "flac", "ogg", "mp3", "csv"], accept_multiple_files=True,
                                 key="dataset_uploads")
        if files:
            manifest = datasets.uploads_manifest(files)
except SerwbError as e:
    st.error(str(e), icon=":material/error:")

if manifest is not None:
    splits = sorted({r.extra.get("split") for r in manifest.rows if r.extra.get("split")} - {"cue"})
    a, b, c = st.columns(3)
    options = ["all", *splits]
    split = a.selectbox("Split", options, index=options.index("test") if "test" in options else 0, key="dataset_split",
                        help="Planted-cue clips are always kept for the localisation table.") if splits else "all"
    offered = list(loaded.methods)
    methods = b.multiselect("Attribution methods (for the profiles)", offered,
                            default=offered[:1], key=f"dataset_methods:{loaded.hash[:12]}", format_func=analyses.TITLES.get,
                            help="Grad-CAM takes milliseconds per clip; the perturbation methods (occlusion, LIME) "
                                 "take seconds.")
    limit = c.number_input("At most this many clips (0: all)", min_value=0, value=0, step=10, key="dataset_limit")
    if split != "all":
        manifest = manifest.filter(split=[split, "cue"])
    cue = sum(1 for r in manifest.rows if r.extra.get("split") == "cue")
    clips = clips_to_analyse(manifest)
    adapt = adaptation.checkbox(loaded, clips, key="dataset_adapt")
    only_cue = bool(cue) and len(clips) == cue
    st.caption((f"{domain.count(cue, 'planted-cue clip')} ({manifest.corpus}) to analyse, each scored by its planted "
                "word's emotion, and for the localisation table" if only_cue else
                f"{domain.count(len(clips), 'clip')} ({manifest.corpus}) to analyse" +
                (f", plus {domain.count(cue, 'planted-cue clip')} for the localisation table" if cue else "")) +
               (f"; {manifest.skipped} file(s) left out" if manifest.skipped else "") + ".")
    if st.button("Analyse", type="primary", icon=":material/play_arrow:", key="dataset_run"):
        job = datasets.submit(loaded, manifest, methods=methods or offered[:1], max_clips=int(limit) or None,
                              adapt_speakers=adapt)
        st.session_state[PENDING] = (job, f"{manifest.root} ({split})", loaded.card, loaded.hash)

if PENDING in st.session_state:  # kept across reruns, so a click elsewhere mid-analysis loses nothing
    job, described, card, model_hash = st.session_state[PENDING]
    result, message = wait_one(job, "Dataset analysis")
    del st.session_state[PENDING]
    if message is not None:
        st.error(message, icon=":material/error:")
    else:
        st.session_state[RESULT] = (job.key, result, described, card, model_hash)
        st.session_state.pop(CELL, None)

if RESULT not in st.session_state:
    st.info("Pick a folder or upload clips, then press Analyse.", icon=":material/info:")
    st.stop()


def _select_cell():
    """A click on the confusion matrix selects that cell (the selectbox below follows)."""
    event = st.session_state.get("confusion_chart")
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    result = st.session_state[RESULT][1]
    if points:
        labels, row = list(result.labels), points[0]["y"]
        if row in labels:
            st.session_state[CELL] = (labels.index(row), labels.index(points[0]["x"]))
        elif row.endswith(dataset_figures.NOT_SCORED):  # a row of a label the model has no class for
            st.session_state[CELL] = (row.removesuffix(dataset_figures.NOT_SCORED), labels.index(points[0]["x"]))


@st.fragment
def results_view(path: str) -> None:
    """The last analysis' results; choosing a confusion cell reruns only this."""
    _job_key, result, described, card, model_hash = st.session_state[RESULT]
    if checkpoints.load(path).hash != model_hash:
        st.warning(f"These results are from another model ({card.model}) than the one now selected; press Analyse "
                   "to redo them with it.", icon=":material/warning:")
    st.subheader(f"Results: {described}")
    unknown = result.unknown_labels  # clips whose label the model has no class for: predicted, not scored
    scored = f", {len(result.paths) - result.n_unknown} of them scored" if unknown else ""
    st.caption(domain.count(len(result.paths), "clip") + scored
               + (f"; {len(result.skipped)} could not be read" if result.skipped else ""))
    cols = st.columns(4)
    for col, name in zip(cols, ("UA", "WA", "ACC")):
        if name in result.metrics:
            col.metric(name, f"{result.metrics[name]:.1%}")
    chance = result.metrics.get("chance_UA", 1 / len(result.labels))
    cols[3].metric("Chance UA", f"{chance:.1%}",
                   help=f"The UA of a constant or random guess over the model's {len(result.labels)} classes.")
    if "UA" in result.metrics:
        st.caption(f"UA {result.metrics['UA']:.2f} (chance {chance:.2f}): a constant or random guess scores about "
                   "the chance level, whatever the class balance.")
    if result.cue_scored:
        st.caption("These are planted-cue clips: each is labelled by its one planted word, but most of its time is "
                   "the neutral words around it, so a model that hears a whole clip as neutral scores it wrong. "
                   "UA here is not the model's recognition figure (its card's is); what these clips measure is the "
                   "localisation below.")
    if result.trained_speakers:
        heard, total = result.trained_speakers, len(result.paths)
        n = sum(heard.values())
        st.warning(f"{f'All {total} clips' if n == total else f'{n} of the {total} clips'} are by speakers this model "
                   f"was trained on ({', '.join(heard)}), perhaps the very clips it learnt from: these scores are not "
                   "speaker-independent. The speaker-independent figure is the model card's cross-validation (in "
                   "the sidebar); analyse speakers the model never heard to check it.",
                   icon=":material/warning:")
    if result.adaptation is not None:
        st.info(adaptation.note(result.adaptation), icon=":material/record_voice_over:")
    else:
        st.caption(adaptation.note(None) + (" This model trained with speaker batches, so its card's figures are "
                                            f"adapted ones: tick *{adaptation.LABEL}* and press Analyse to "
                                            "compare." if adapts(card) else ""))
    if unknown:
        listed = ", ".join(f"{domain.count(n, 'clip')} labelled {label}" for label, n in unknown.items())
        st.info(f"{listed}: this model has no such class (it knows {', '.join(result.labels)}); they are predicted "
                "but not scored. Their predictions are the grey row(s) under the confusion matrix.",
                icon=":material/info:")

    left, right = st.columns(2)
    with left:
        st.markdown("##### Confusion matrix")
        unscored = result.unknown_predicted()
        st.plotly_chart(dataset_figures.confusion(result.confusion, result.labels, unknown=unscored), width="stretch",
                        key="confusion_chart", on_select=_select_cell, selection_mode="points")
        n = len(result.labels)
        counts = {(i, j): int(result.confusion[i, j]) for i in range(n) for j in range(n)}
        counts |= {(label, j): int(row[j]) for label, row in unscored.items() for j in range(n)}
        cells = [c for c, k in counts.items() if k]
        if cells:
            if st.session_state.get(CELL) not in cells:
                st.session_state[CELL] = cells[0]
            cell = st.selectbox("Clips of the cell", cells, key=CELL,
                                format_func=lambda c: (f"true {result.labels[c[0]]}" if isinstance(c[0], int)
                                                       else f"{c[0]} (not scored)")
                                + f" → predicted {result.labels[c[1]]} ({domain.count(counts[c], 'clip')})")
            paths = result.cell(*cell) if isinstance(cell[0], int) else result.unknown_cell(*cell)
            pages = (len(paths) + PAGE - 1) // PAGE
            page = st.number_input(f"Page (of {pages})", 1, pages, 1, key="dataset_cell_page") if pages > 1 else 1
            for clip_path in paths[(page - 1) * PAGE : page * PAGE]:  # analysed clips: in a data root or the uploads
                index = result.paths.index(clip_path)
                st.markdown(f"`{Path(clip_path).name}` · "
                            + probability_text(result.labels, result.probabilities[index]))
                try:
                    st.audio(Path(clip_path).read_bytes())
                except OSError:
                    st.warning("This clip is no longer on disk (moved, or an upload older than a day); "
                               "press Analyse again to refresh the list.", icon=":material/warning:")
    with right:
        st.markdown("##### t-SNE of the model embedding (as in Kim et al., 2017)")
        if result.tsne is None:
            st.info("t-SNE needs at least 5 clips.", icon=":material/info:")
        else:
            st.plotly_chart(dataset_figures.tsne(result.tsne, np.asarray(result.true), np.asarray(result.predicted),
                                                 list(result.labels), result.paths), width="stretch", key="tsne_chart")

    if result.frequency_profiles:
        st.markdown("##### Frequency-attribution profile per emotion (as in Kim & Kwak, 2024)")
        figure = dataset_figures.frequency_profiles(result.frequency_profiles, result.band_hz, list(result.labels),
                                                    mfcc=card.features.kind == "mfcc")
        st.plotly_chart(figure, width="stretch", key="profiles_chart")
    if result.localisation:
        st.markdown("##### Localisation on the planted-cue clips")
        st.caption("inside_share: share of positive attribution inside the planted phrase; pointing: the map's peak "
                   "falls inside it; chance: the phrase's share of the clip (what a uniform map scores)." +
                   (" model_ranks_cue_first: how often the model, hearing each word alone, gives the planted word the "
                    "emotion's highest probability (a map true to the model can point no better); the last column is "
                    "each method's pointing on those clips."
                    if any("model_ranks_cue_first" in row for row in result.localisation) else ""))
        st.dataframe(pd.DataFrame(result.localisation), hide_index=True, width="stretch")
        if result.localisation_by_emotion:
            with st.expander("Per planted emotion"):
                st.caption("The same table for each planted emotion's clips alone: a model that hears one emotion "
                           "and not another leaves the maps nothing to point at on the one it does not hear.")
                st.dataframe(pd.DataFrame(result.localisation_by_emotion), hide_index=True, width="stretch")
    elif result.localisation == []:  # planted-cue clips, none the model can be judged on
        st.info("No localisation table: localisation is judged only on planted-cue clips of speakers the model never "
                "heard and of emotions it knows, and here there are none. A model trained on every speaker (such as "
                "the shipped real-speech ones) is judged through its cross-validation folds: `make real-explanations`.",
                icon=":material/info:")
    if result.skipped:
        with st.expander(f"{len(result.skipped)} clip(s) left out"):
            st.dataframe(pd.DataFrame([{"clip": k, "why": v} for k, v in result.skipped.items()]), hide_index=True)

    st.download_button(
        "Export (ZIP: figures, PDF report, arrays, JSON)",
        data=lambda: export.dataset_zip(result, card=card, checkpoint_hash=model_hash, source=described,
                                        extra={"adaptation": result.adaptation}),
        file_name="serwb-dataset.zip", mime="application/zip", icon=":material/archive:", on_click="ignore",
        key="export_dataset",
    )


results_view(loaded.path)
