"""The model card: what a checkpoint says about its model (classes, features, training, metrics)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from workbench import checkpoints
from workbench.checkpoints import Loaded
from workbench.components.colours import OKABE_ITO

SCORES = ("UA", "WA", "ACC")


def render(loaded: Loaded) -> None:
    card = loaded.card
    st.markdown(f"#### {card.model}")
    described = checkpoints.describe(card.model)
    if described:
        st.caption(described)
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
        shown = {k: training[k] for k in ("epochs", "batch_size", "lr", "seed", "seconds", "augment", "focal_gamma")
                 if k in training}
        st.markdown("**Training:** " + " · ".join(f"{k} {v}" for k, v in shown.items()))
        for w in training.get("pretrained_weights") or []:
            st.markdown(f"**Started from** public {w['branch']} weights `{w['path']}` (sha256 {w['sha256'][:12]}…, "
                        f"{w['loaded']} tensors into {w['into']})")
    _metrics(dict(card.metrics))
    st.caption(f"checkpoint {loaded.path} · created {card.created_at or '?'} · serwb {card.serwb_version} · "
               f"weights sha256 {card.weights_sha256[:12]}…")


def _metrics(metrics: dict) -> None:
    if metrics.get("protocol"):
        st.markdown(f"**Evaluation:** {metrics['protocol']}")
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
