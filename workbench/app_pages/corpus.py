"""Corpus: every corpus under the data roots (the shipped demo and real Polish ones, their planted-cue
sets, and any folder added with ``SERWB_DATA_ROOTS``): what each holds, where it comes from (licence,
citation, per ``core.data.provenance``), and how it sounds.

Bounded: one example player per emotion per corpus, and for the corpus picked below a table of every
clip, a row of which plays when selected (never hundreds of clips loaded into the page).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.data import provenance
from core.data.corpora import Manifest, Row, load_manifest
from core.errors import SerwbError
from workbench import state

#: Names of the shipped corpora by folder (the first is the default); others are named by title or folder.
SHIPPED = {
    state.DEMO_CORPUS.resolve(): "Demo corpus (synthetic, English)",
    state.REAL_CORPUS.resolve(): "Emotions in Polish speech recordings (real, acted)",
    state.REAL_CUE_CORPUS.resolve(): "Planted cues made from the Polish corpus (real, acted)",
}
#: Shipped corpora built from another one (their licence and language are the source's), by folder.
DERIVED = {state.REAL_CUE_CORPUS.resolve(): "polish"}
AUDIO_TYPES = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".mp3": "audio/mpeg"}
#: Columns of the clip table besides file, emotion and speaker (when a corpus has them); the rest on demand.
DESCRIBING = ("split", "word", "sentence", "cue_text", "cue_start", "cue_end", "gender", "repetition", "duration")
PLAYERS_PER_ROW = 4


@st.cache_resource(show_spinner=False)
def corpora(roots: tuple[str, ...]) -> tuple[dict[str, Manifest], dict[str, str]]:
    """Every corpus under ``roots`` by folder: a root that is a corpus itself, else each of its sub-folders
    that is one; and the message of each root where none could be read."""
    found: dict[str, Manifest] = {}
    errors: dict[str, str] = {}
    for root in map(Path, roots):
        try:
            found[str(root)] = state.demo_manifest() if root == state.DEMO_CORPUS.resolve() else load_manifest(root)
            continue
        except SerwbError as e:
            error = str(e)
        subs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []
        for sub in subs:
            try:
                found[str(sub)] = load_manifest(sub)
            except SerwbError:
                pass
        if not any(Path(folder).parent == root for folder in found):
            errors[str(root)] = error
    return found, errors


def name_of(folder: str, manifest: Manifest) -> str:
    if Path(folder) in SHIPPED:
        return SHIPPED[Path(folder)]
    meta = provenance.info(manifest.corpus)
    return f"{meta.title} ({Path(folder).name})" if meta else f"{Path(folder).name} ({manifest.corpus})"


def shown(folder: str) -> str:
    """A folder relative to the repository when inside it (as the Dataset page takes it)."""
    path = Path(folder)
    return path.relative_to(state.ROOT).as_posix() if path.is_relative_to(state.ROOT) else str(path)


def example(rows: list[Row]) -> Row:
    """One clip of an emotion: a plain one (not a planted cue) where there is one, from the middle of the list."""
    plain = [r for r in rows if r.extra.get("split") != "cue"] or rows
    plain = sorted(plain, key=lambda r: r.path.name)
    return plain[len(plain) // 2]


def play(row: Row) -> None:
    try:
        st.audio(row.path.read_bytes(), format=AUDIO_TYPES.get(row.path.suffix.lower(), "audio/wav"))
    except OSError as e:
        st.warning(f"{row.path.name} could not be read: {e.strerror}.", icon=":material/warning:")


def examples(manifest: Manifest, key: str) -> None:
    """One player per emotion, in rows of ``PLAYERS_PER_ROW``."""
    labels = sorted(manifest.labels())
    for start in range(0, len(labels), PLAYERS_PER_ROW):
        for column, label in zip(st.columns(PLAYERS_PER_ROW), labels[start:start + PLAYERS_PER_ROW]):
            row = example([r for r in manifest.rows if r.label == label])
            with column:
                st.markdown(f"**{label}**")
                st.caption(f"`{row.path.name}` · speaker {row.speaker}")
                play(row)


st.title("Corpus")
roots = state.data_roots()
found, errors = corpora(tuple(str(r) for r in roots))
st.caption("Every corpus under the data roots (" + ", ".join(f"`{shown(str(r))}`" for r in roots)
           + f"; add folders with {state.DATA_ROOTS_ENV}). One example clip per emotion of each; pick a corpus "
           "below for its counts and every clip.")
for root, message in errors.items():
    st.error(f"**{shown(root)}**: {message}", icon=":material/error:")
if not found:
    st.stop()

names = {folder: name_of(folder, m) for folder, m in found.items()}
order = sorted(found, key=lambda f: (list(SHIPPED).index(Path(f)) if Path(f) in SHIPPED else len(SHIPPED), names[f]))
overview = []
for folder in order:
    m, source = found[folder], DERIVED.get(Path(folder))
    meta = provenance.info(m.corpus) or (provenance.info(source) if source else None)
    licence = (meta.licence + (f" (as its source, {meta.title})" if source else "")) if meta else "not recorded"
    overview.append({"corpus": names[folder], "folder": shown(folder), "clips": len(m), "speakers": len(m.speakers()),
                     "emotions": ", ".join(sorted(m.labels())), "language": meta.language if meta else "not recorded",
                     "speech": meta.speech if meta else "not recorded", "licence": licence})
st.dataframe(pd.DataFrame(overview), hide_index=True, width="stretch", key="corpus_overview")

st.subheader("Listen: one clip per emotion")
for folder in order:
    with st.container(border=True):
        st.markdown(f"**{names[folder]}** · `{shown(folder)}` · {len(found[folder])} clips")
        examples(found[folder], folder)

st.subheader("One corpus in detail")
choice = st.selectbox("Corpus", [names[f] for f in order], key="corpus_page")
folder = next(f for f in order if names[f] == choice)
manifest = found[folder]
if Path(folder) == state.DEMO_CORPUS.resolve():
    st.write(
        "Synthetic emotional speech made with espeak-ng (see the README). Test speakers are held out "
        "from training; planted-cue clips hide one emotional phrase in neutral speech and record where it is."
    )
meta = provenance.info(manifest.corpus)
if meta is not None:
    st.markdown(f"**{meta.title}**: {meta.language}, {meta.speech} speech.  \n"
                f"**Licence:** {meta.licence}  \n**Cite as:** {meta.citation}  \n**Source:** {meta.url}")
elif (Path(folder) / "README.md").is_file():
    with st.expander("Where it comes from (the folder's README)", expanded=True):
        st.markdown((Path(folder) / "README.md").read_text(encoding="utf-8", errors="replace"))

table = pd.DataFrame(
    [{"file": r.path.name, "emotion": r.label, "speaker": r.speaker, **dict(r.extra)} for r in manifest.rows]
)
c1, c2, c3 = st.columns(3)
c1.metric("clips", len(table))
c2.metric("speakers", table["speaker"].nunique())
c3.metric("emotions", table["emotion"].nunique())
by = "split" if "split" in table else "speaker"
st.markdown(f"##### Clips per emotion and {by}")
st.dataframe(pd.crosstab(table["emotion"], table[by]), width="stretch")

st.markdown("##### Every clip")
every = st.toggle("Every column", value=False, key="corpus_all_columns",
                  help="Off: file, emotion, speaker and what describes the clip. On: everything the corpus's "
                       "manifest or file naming records (e.g. the synthesis settings of the demo clips).")
columns = list(table.columns) if every else ["file", "emotion", "speaker", *[c for c in DESCRIBING if c in table]]
st.caption("Select a row to listen to that clip.")
picked = st.dataframe(table[columns], width="stretch", hide_index=True, on_select="rerun",
                      selection_mode="single-row", key=f"corpus_table:{folder}")
selected = picked.selection.rows if picked is not None and hasattr(picked, "selection") else []
if selected:
    row = manifest.rows[selected[0]]
    st.markdown(f"**{row.path.name}** · {row.label} · speaker {row.speaker}")
    play(row)
