"""Speaker adaptation (AdaBN, ``core.training.adapt``) on the pages that analyse a corpus: the checkbox that
offers it and the sentence that says whether the figures shown are adapted ones.

Offered where the model has BatchNorm layers and the clips name their speakers; ticked by default where the
model trained with speaker batches, whose card figures are adapted ones.
"""

from __future__ import annotations

from collections.abc import Iterable

import streamlit as st

from core.data.corpora import Row
from core.training.adapt import MIN_CLIPS, adapts, batchnorms
from workbench import domain

LABEL = "Adapt to each speaker (AdaBN)"
HELP = (f"Each speaker's clips are predicted and explained by a copy of the model whose BatchNorm statistics are "
        f"those of that speaker's own clips (labels unused); a speaker needs at least {MIN_CLIPS} clips, others "
        "stay as trained. A single clip on the Explain page is always predicted with the trained statistics.")


def checkbox(loaded, rows: Iterable[Row], key: str) -> bool:
    """Whether to adapt to each speaker: a checkbox (keyed per model) where adapting can apply, else False."""
    named = any(r.speaker != "unknown" for r in rows)
    if not (batchnorms(loaded.model) and named):
        return False
    return st.checkbox(LABEL, value=adapts(loaded.card), key=f"{key}:{loaded.hash[:12]}", help=HELP)


def note(adaptation: dict | None) -> str:
    """Whether (and for how many speakers) the figures come from speaker-adapted models."""
    if adaptation is None:
        return "Not adapted to speakers: every clip was predicted by the model as trained."
    left = adaptation["unadapted"]
    adapted = [s for s in adaptation["speakers"] if s not in left]
    few = [s for s in left if s != "unknown"]
    nameless = left.get("unknown", 0)
    return (f"Adapted to each speaker (AdaBN): {domain.count(len(adapted), 'speaker')} adapted, with BatchNorm "
            "statistics of their own clips"
            + (f"; {domain.count(len(few), 'speaker')} left as trained (fewer than {adaptation['min_clips']} clips)"
               if few else "")
            + (f"; {domain.count(nameless, 'clip')} of no named speaker predicted as trained" if nameless else "")
            + ".")
