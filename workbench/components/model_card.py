"""The model card: what a checkpoint says about its model (the corpus it was trained on, classes,
features, training, and how it was evaluated: per-speaker cross-validation folds, held-out scores)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from workbench import checkpoints, domain
from workbench.checkpoints import Loaded
from workbench.components.colours import OKABE_ITO

SCORES = ("UA", "WA", "ACC")


def render(loaded: Loaded) -> None:
    card = loaded.card
    st.markdown(f"#### {card.model}")
    described = checkpoints.describe(card.model)
    if described:
        st.caption(described)
    _corpus(card)
    st.markdown("**Classes:** " + ", ".join(f"`{label}`" for label in card.labels))
    if card.features is not None:
        f = card.features
        st.markdown(f"**Features:** `{f.name}` — {f.kind}, {f.sample_rate} Hz, window {f.window_ms:g} ms, "
                    f"hop {f.hop_ms:g} ms, {f.n_mfcc if f.kind == 'mfcc' else f.n_mels} "
                    f"{'coefficients' if f.kind == 'mfcc' else 'mel bands'}")
        if f.source:
            st.caption(f.source)
    training = dict(card.training or {})
    if training:
        shown = {k: training[k] for k in ("epochs", "batch_size", "lr", "seed", "seconds", "padding", "augment",
                                          "focal_gamma") if k in training}
        st.markdown("**Training:** " + " · ".join(f"{k} {v}" for k, v in shown.items()))
        for w in training.get("pretrained_weights") or []:
            st.markdown(f"**Started from** public {w['branch']} weights `{w['path']}` (sha256 {w['sha256'][:12]}…, "
                        f"{w['loaded']} tensors into {w['into']})")
    _metrics(dict(card.metrics), card.labels)
    st.caption(f"checkpoint {loaded.path} · created {card.created_at or '?'} · serwb {card.serwb_version} · "
               f"weights sha256 {card.weights_sha256[:12]}…")


def _corpus(card) -> None:
    """Where the training clips come from: title, language, real or synthetic, licence and citation."""
    data = dict(card.data or {})
    info = domain.corpus(card)
    counts = ", ".join(f"{label} {n}" for label, n in (data.get("counts") or {}).items())
    clips = (f" · {data['clips']} clips" if data.get("clips") else "") + (f" ({counts})" if counts else "")
    if info is None:
        if data.get("corpus"):
            st.markdown(f"**Trained on:** corpus `{data['corpus']}`{clips}")
        return
    st.markdown(f"**Trained on:** {info.title} — {info.language}, {info.speech} speech{clips}")
    st.caption(f"Licence: {info.licence}  \nCite as: {info.citation}")


def _cv(metrics: Mapping, labels) -> None:
    """Cross-validation: mean ± sd of each score against chance, and one row per fold named by its test
    speakers (with the peer baseline's UA on the same fold, when the card has one)."""
    cv = domain.cv_of(metrics)
    protocol = domain.cv_protocol(metrics)
    if protocol not in str(metrics.get("protocol") or ""):  # said once: the evaluation line usually names it
        st.markdown(f"**Cross-validation:** {protocol}")
    mean, std = cv.get("mean") or {}, cv.get("std") or {}
    cols = st.columns(len(SCORES) + 1)
    for col, score in zip(cols, SCORES):
        if score in mean:
            col.metric(score, f"{mean[score]:.1%}", delta=f"± {std[score]:.1%} sd" if score in std else None,
                       delta_color="off", delta_arrow="off", help="mean and standard deviation over the folds")
    cols[-1].metric("Chance UA", f"{1 / len(labels):.1%}", help="The UA of a constant or random guess.")
    base = metrics.get("baseline")
    base = base if isinstance(base, Mapping) and "UA" in (base.get("mean") or {}) else None
    base_folds = {tuple(f.get("test_speakers") or ()): f for f in (base or {}).get("folds") or []
                  if isinstance(f, Mapping)}
    folds = [f for f in cv.get("folds") or [] if isinstance(f, Mapping)]
    if folds:
        named = [len(f.get("test_speakers") or ()) for f in folds]
        rows = []
        for i, f in enumerate(folds, start=1):
            speakers = tuple(f.get("test_speakers") or ())
            row = ({"speaker": ", ".join(speakers)} if any(named) else {"fold": f.get("fold", i)}) \
                | {"UA": f.get("UA"), "WA": f.get("WA"), "clips": f.get("test_clips")}
            if base_folds:
                row["baseline UA"] = (base_folds.get(speakers) or {}).get("UA")
            rows.append(row)
        st.markdown("**Per held-out speaker**" if all(n == 1 for n in named)
                    else "**Per fold** (its held-out speakers)" if any(named) else "**Per fold**")
        st.dataframe(pd.DataFrame(rows).dropna(axis=1, how="all"), hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(c, format="%.2f")
                                    for c in ("UA", "WA", "baseline UA")})
    if base is not None:
        std_ua = (base.get("std") or {}).get("UA")
        st.caption(f"Peer baseline on the same folds: {base.get('baseline') or 'eGeMAPS + SVM'}, "
                   f"UA {base['mean']['UA']:.2f}" + (f" ± {std_ua:.2f}" if std_ua is not None else ""))


def _metrics(metrics: dict, labels=()) -> None:
    if metrics.get("protocol"):
        st.markdown(f"**Evaluation:** {metrics['protocol']}")
    if domain.cv_of(metrics) is not None and labels:
        _cv(metrics, labels)
    for name, value in metrics.items():
        if isinstance(value, dict) and any(k in value for k in SCORES):
            st.markdown(f"**{name.replace('_', ' ')}** ({value.get('n', '?')} clips)")
            cols = st.columns(len(SCORES))
            for col, score in zip(cols, SCORES):
                if score in value:
                    col.metric(score, f"{value[score]:.1%}")
            if isinstance(value.get("per_class_recall"), dict):
                st.dataframe(pd.DataFrame({"recall": value["per_class_recall"]}).T, width="stretch")
    history = metrics.get("history")
    if isinstance(history, list) and history:
        frame = pd.DataFrame(history).set_index("epoch")
        numeric = [c for c in frame.columns if c != "lr" and pd.api.types.is_numeric_dtype(frame[c])]
        if numeric:
            st.markdown("**Training history** (per epoch)")
            st.line_chart(frame[numeric], height=180, x_label="epoch", y_label="loss / score (0-1)",
                          color=[OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(numeric))])
