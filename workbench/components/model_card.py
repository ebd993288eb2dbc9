"""The model card: what a checkpoint says about its model, in sentences a person would write.

Five parts, each from the card alone (``core.checkpoint.Card``; nothing is recomputed but the parameter count):

* the model: its name, the system it implements with the paper cited once, its parameter count and the
  features it hears, described in words (the preset's name in brackets);
* the training data: corpus title, language, real or synthetic speech, clips and speakers, licence and citation
  (``core.data.provenance``);
* the training recipe: epochs, optimiser and loss, the clip length and how short clips are padded, and the
  augmentations the run actually used, read from the ``TrainConfig`` fields (``core.training.augment``): the
  wave-domain ones (speed, rooms, noise, gain), VTLP and SpecAugment masks, S0's STFT augmentation (``augment``,
  a list of feature presets, so an empty list is not "no augmentation"); "none" when none was on;
* the evaluation: the protocol as a sentence, held-out or cross-validation scores against chance;
* the training curves (``training_figure``): loss in its own panel above UA / WA in percent, train solid,
  validation in another colour when the history has ``val_*`` columns, chance as a dotted line.

The text builders are plain functions of the card's fields, so tests can call them directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core import models
from core.features import FeatureConfig
from core.training.augment import NOISE_SNR_SPAN_DB, RT60_SECONDS, SPEED_STEP
from workbench import domain
from workbench.checkpoints import Loaded
from workbench.components.colours import BLUE, GREY, VERMILLION

SCORES = ("UA", "WA", "ACC")
SCORE_HELP = {
    "UA": "Unweighted accuracy: the mean of the per-class recalls, so every emotion counts the same.",
    "WA": "Weighted accuracy: the share of all clips classified correctly.",
    "ACC": "The summary number of Kim & Kwon (S0): the mean of UA and WA.",
}
CHANCE_HELP = "The UA of a constant or random guess: 1 / the number of classes."
#: How each metrics block of a card is introduced (others: their key, underscores as spaces).
BLOCK_TITLES = {
    "held_out": "Held-out test set",
    "validation": "Validation set (training speakers held out for early stopping)",
}

#: Training-curve styles (Okabe-Ito): train in black and blues, validation in vermillion and orange; UA thick (solid
#: for train, dashed for validation), WA dotted, thinner and drawn after UA, so both show where they coincide.
SKY, ORANGE, BLACK = "#56B4E9", "#E69F00", "#000000"
CURVES = {  # history column: (legend name, colour, dash, width)
    "loss": ("train loss", BLACK, "solid", 2.0),
    "val_loss": ("validation loss", VERMILLION, "dash", 2.0),
    "train_UA": ("train UA", BLUE, "solid", 3.0),
    "train_WA": ("train WA", SKY, "dot", 2.0),
    "val_UA": ("validation UA", VERMILLION, "dash", 3.0),
    "val_WA": ("validation WA", ORANGE, "dot", 2.0),
}
LOSS_CURVES = ("loss", "val_loss")
SCORE_CURVES = ("train_UA", "train_WA", "val_UA", "val_WA")
SCORE_AXIS = "UA / WA (%)"
EPOCH_AXIS = "epoch"
HEIGHT = 360  # both panels; one panel alone: 320
LEGEND_ROW = 24


# ----------------------------------------------------------------------------- the model


def _number(value: float) -> str:
    """A setting as a person writes it: 0.1, 6, 0.003 (no trailing zeros)."""
    return f"{value:g}"


def citation_of(spec) -> str:
    """The system with its paper as the model's description names it: "S0 (Kim & Kwon, arXiv 2409.04007)"."""
    described = spec.description.strip()
    head = described.split(":", 1)[0].strip() if ":" in described else ""
    return head if head.startswith(spec.paper) else spec.paper


def system_text(spec) -> str:
    """What the model is, the paper named once: the description when it already starts with the paper's label
    ("S0 (Kim & Kwon, arXiv 2409.04007): 6 conv blocks ..."), else "S0: <description>"."""
    described = spec.description.strip()
    if not spec.paper or described.startswith(spec.paper):
        return described
    return f"{spec.paper}: {described}" if described else spec.paper


def parameters_text(model) -> str | None:
    """E.g. "214,340 parameters" (None without a model)."""
    try:
        n = sum(p.numel() for p in model.parameters())
    except (AttributeError, TypeError):
        return None
    return f"{n:,} parameters"


def features_text(f: FeatureConfig, spec=None, training: Mapping | None = None) -> str:
    """The features in words: "64 log-mel bands from a 50 ms window every 10 ms, 16 kHz audio (preset `stft-v8`)"."""
    rate = f"{f.sample_rate / 1000:g} kHz audio"
    framing = f"a {_number(f.window_ms)} ms window every {_number(f.hop_ms)} ms"
    if f.kind == "mfcc":
        what = f"{f.n_mfcc} MFCCs per frame (from {f.n_mels} mel bands)"
    else:
        span = ""
        if f.f_min or f.f_max:
            span = f" over {_number(f.f_min)}-{_number(f.f_max if f.f_max else f.sample_rate / 2)} Hz"
        what = f"{f.n_mels} log-mel bands{span}"
    text = f"{what} from {framing}, {rate}"
    if spec is not None and getattr(spec, "input_kind", "") == "patch":
        frames, hop = _patch_frames(f, training)
        text += (f", seen in patches of {frames} frames ({frames * f.hop_ms / 1000:g} s) every "
                 f"{hop * f.hop_ms / 1000:g} s")
    return f"{text} (preset `{f.name}`)"


def _patch_frames(f: FeatureConfig, training: Mapping | None) -> tuple[int, int]:
    cut = (training or {}).get("segment_frames")
    if isinstance(cut, Sequence) and len(cut) == 2:
        return int(cut[0]), int(cut[1])
    return f.patch_frames, f.patch_hop_frames


def source_text(source: str, citation: str, paper: str) -> str:
    """The preset's source with the paper shortened to its label when the model line already cites it in full."""
    if citation and paper and citation != paper and citation in source:
        return source.replace(citation, paper)
    return source


# ----------------------------------------------------------------------------- the training data


def corpus_lines(card) -> tuple[str | None, str | None]:
    """("**Trained on:** <title> — <language>, <speech> speech · <clips> (<counts>) from <speakers>",
    "Licence: ...  \\nCite as: ...") from the card's data and ``core.data.provenance``."""
    data = dict(card.data or {})
    info = domain.corpus(card)
    counts = ", ".join(f"{label} {n}" for label, n in (data.get("counts") or {}).items())
    clips = f" · {data['clips']} clips" if data.get("clips") else ""
    clips += f" ({counts})" if counts and clips else ""
    speakers = data.get("speakers") or []
    if speakers:
        clips += f" from {len(speakers)} speakers" if len(speakers) > 1 else f" from 1 speaker ({speakers[0]})"
    if info is None:
        return (f"**Trained on:** corpus `{data['corpus']}`{clips} (no provenance on record)"
                if data.get("corpus") else None), None
    return (f"**Trained on:** {info.title} — {info.language}, {info.speech} speech{clips}",
            f"Licence: {info.licence}  \nCite as: {info.citation}")


# ----------------------------------------------------------------------------- the recipe


def _on(training: Mapping, key: str) -> float:
    """A numeric setting; absent (a card older than the option) means off, as ``TrainConfig``'s defaults."""
    value = training.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def augmentations(training: Mapping, features: FeatureConfig | None = None) -> list[str]:
    """The augmentations the run used, in the order the loop applies them, each in words (empty: none)."""
    t = dict(training or {})
    found = []
    versions = [str(v) for v in t.get("augment") or []]
    if versions:
        found.append(f"STFT augmentation (Kim & Kwon, S0): every clip seen through {len(versions)} feature versions per epoch "
                     f"({', '.join(versions)})")
    speed = _on(t, "speed")
    if speed:
        found.append(f"speed perturbation (factors {1 - speed:g}-{1 + speed:g} in steps of {SPEED_STEP:g})")
    reverb = _on(t, "reverb")
    if reverb:
        found.append(f"synthetic rooms on {reverb:.0%} of clips (RT60 {RT60_SECONDS[0]:g}-{RT60_SECONDS[1]:g} s)")
    snr = _on(t, "noise_snr")
    if snr:
        found.append(f"white noise at {snr:g}-{snr + NOISE_SNR_SPAN_DB:g} dB SNR")
    gain = _on(t, "gain_db")
    if gain:
        found.append(f"random gain ±{gain:g} dB")
    vtlp = _on(t, "vtlp")
    if vtlp:
        found.append(f"VTLP (vocal-tract-length warp factors {1 - vtlp:g}-{1 + vtlp:g})")
    masks = int(_on(t, "masks") or 2)
    freq, time = int(_on(t, "freq_mask")), int(_on(t, "time_mask"))
    parts = []
    if freq:
        parts.append(f"{domain.count(masks, 'frequency mask')} narrower than {freq} mel bands")
    if time:
        ms = f" ({time * features.hop_ms:g} ms)" if features is not None else ""
        parts.append(f"{domain.count(masks, 'time mask')} narrower than {time} frames{ms}")
    if parts:
        found.append("SpecAugment: " + " and ".join(parts) + " per clip")
    return found


def augmentation_text(training: Mapping, features: FeatureConfig | None = None) -> str:
    """ "**Augmentation:** random gain ±6 dB; VTLP (...); SpecAugment: ..." or "**Augmentation:** none"."""
    found = augmentations(training, features)
    return "**Augmentation:** " + ("; ".join(found) if found else "none") + \
        (" (training batches only; evaluation never sees them)" if found else "")


def recipe_text(training: Mapping, metrics: Mapping | None = None) -> str:
    """ "**Training:** 40 epochs, batch 36, Adam at learning rate 0.001 (×0.95 every epoch), class-weighted focal
    loss (γ = 2), seed 0"."""
    t = dict(training or {})
    parts = []
    final = (metrics or {}).get("final_epochs")
    if isinstance(final, Mapping) and final.get("epochs"):
        parts.append(f"{final['epochs']} epochs ({final.get('from') or 'chosen by early stopping'})")
    elif t.get("epochs"):
        parts.append(f"{t['epochs']} epochs")
    if t.get("batch_size"):
        parts.append(f"batch {t['batch_size']}")
    if t.get("lr"):
        decay, step = float(t.get("lr_decay", 1.0) or 1.0), int(t.get("lr_step", 1) or 1)
        schedule = (f" (×{decay:g} every {'epoch' if step == 1 else f'{step} epochs'})" if decay < 1 else "")
        wd = _on(t, "weight_decay")
        parts.append(f"Adam at learning rate {float(t['lr']):g}{schedule}" + (f", weight decay {wd:g}" if wd else ""))
    if "focal_gamma" in t:
        gamma = float(t["focal_gamma"])
        weighted = "class-weighted " if t.get("class_weighted", True) else ""
        parts.append(f"{weighted}focal loss (γ = {gamma:g})" if gamma else f"{weighted}cross-entropy loss")
    if "seed" in t:
        parts.append(f"seed {t['seed']}")
    return "**Training:** " + (", ".join(parts) if parts else "not recorded")


def input_text(training: Mapping, features: FeatureConfig | None = None) -> str | None:
    """How clips meet the model's fixed length, and what it trained on when not whole clips."""
    t = dict(training or {})
    seconds = t.get("seconds")
    if not seconds:
        return None
    padding = str(t.get("padding", "zeros"))
    filled = domain.PADDING_WORDS.get(padding, padding)
    text = (f"**Clip length:** {float(seconds):g} s: longer clips cropped about their centre, shorter ones padded "
            f"with {filled}")
    text += ", placed at a random offset every epoch" if padding == "noise-floor" else " on both sides"
    if t.get("segment_training"):
        text += "; trained patch by patch, each patch labelled with its clip's emotion"
        if t.get("items_per_epoch"):
            text += f" ({t['items_per_epoch']} patches per epoch)"
    if t.get("gds_threshold") is not None:
        text += f"; Gaussian data selection dropped training segments scoring at most {float(t['gds_threshold']):g}"
    return text


# ----------------------------------------------------------------------------- the evaluation


def _cv_name(metrics: Mapping) -> str:
    """ "leave-one-speaker-out (5 speakers) cross-validation", "speaker-independent 5-fold cross-validation"."""
    name = (domain.cv_protocol(metrics) or "cross-validation").split(";", 1)[0]  # AdaBN: said by the scores' caption
    return name if "cross-validation" in name else f"{name} cross-validation"


def evaluation_text(metrics: Mapping) -> str | None:
    """The protocol as a sentence (``core.training.protocol`` writes three shapes; others are shown as written)."""
    metrics = metrics or {}
    protocol = str(metrics.get("protocol") or "")
    held = metrics.get("held_out") if isinstance(metrics.get("held_out"), Mapping) else None
    if domain.cv_of(metrics) is not None:
        cv = domain.cv_of(metrics)
        unit = "speakers" if cv.get("grouped") else "clips"
        text = (f"**Evaluation:** {_cv_name(metrics)}: each fold's model is scored on {unit} it was not trained on")
        if held is not None:
            text += "; the final model, trained on all the training clips, is scored on the held-out test set below"
        elif "final model trained on every clip" in protocol or not protocol:
            text += ("; the model shipped here was then trained on every clip, so it has no unseen test set of its "
                     "own and these fold scores stand for it")
        return text + "."
    if protocol.startswith("split column"):
        return ("**Evaluation:** the corpus's own split: trained on the clips marked *train*, scored on those "
                "marked *test*, held out from training.")
    if protocol.startswith("speaker holdout"):
        return ("**Evaluation:** a speaker holdout: about 20% of the speakers were held out from training and "
                "their clips scored.")
    if protocol:
        return f"**Evaluation:** {protocol[0].upper()}{protocol[1:]}."
    return None


def _cv(metrics: Mapping, labels) -> None:
    """Cross-validation: mean ± sd of each score against chance, and one row per fold named by its test
    speakers (with the peer baseline's UA on the same fold, when the card has one)."""
    cv = domain.cv_of(metrics)
    mean, std = cv.get("mean") or {}, cv.get("std") or {}
    cols = st.columns(len(SCORES) + 1)
    for col, score in zip(cols, SCORES):
        if score in mean:
            col.metric(score, f"{mean[score]:.1%}", delta=f"± {std[score]:.1%} sd" if score in std else None,
                       delta_color="off", delta_arrow="off",
                       help=f"{SCORE_HELP[score]} Mean and standard deviation over the folds.")
    cols[-1].metric("Chance UA", f"{1 / len(labels):.1%}", help=CHANCE_HELP)
    base = metrics.get("baseline")
    base = base if isinstance(base, Mapping) and "UA" in (base.get("mean") or {}) else None
    base_folds = {tuple(f.get("test_speakers") or ()): f for f in (base or {}).get("folds") or []
                  if isinstance(f, Mapping)}
    normed = metrics.get("baseline_speaker_norm")
    normed = normed if isinstance(normed, Mapping) and "UA" in (normed.get("mean") or {}) else None
    normed_folds = {tuple(f.get("test_speakers") or ()): f for f in (normed or {}).get("folds") or []
                    if isinstance(f, Mapping)}
    plain = cv.get("unadapted") if isinstance(cv.get("unadapted"), Mapping) else None
    if plain is not None and "UA" in (plain.get("mean") or {}):
        std_ua = (plain.get("std") or {}).get("UA")
        st.caption("Adapted to each held-out speaker (AdaBN): every BatchNorm layer normalised by the statistics of "
                   "that speaker's own clips, labels unused, which needs a corpus of the speaker. One clip on its own "
                   f"(the Explain page) is predicted with the trained statistics: UA {plain['mean']['UA']:.2f}"
                   + (f" ± {std_ua:.2f}" if std_ua is not None else "") + " on the same folds.")
    folds = [f for f in cv.get("folds") or [] if isinstance(f, Mapping)]
    if folds:
        named = [len(f.get("test_speakers") or ()) for f in folds]
        rows = []
        for i, f in enumerate(folds, start=1):
            speakers = tuple(f.get("test_speakers") or ())
            row = ({"speaker": ", ".join(speakers)} if any(named) else {"fold": f.get("fold", i)}) \
                | {"UA": f.get("UA"), "WA": f.get("WA"), "clips": f.get("test_clips")}
            if isinstance(f.get("unadapted"), Mapping):  # AdaBN: the same fold clip by clip, as one upload is
                row["UA clip by clip"] = f["unadapted"].get("UA")
            if base_folds:
                row["baseline UA"] = (base_folds.get(speakers) or {}).get("UA")
            if normed_folds:
                row["speaker-normalised baseline UA"] = (normed_folds.get(speakers) or {}).get("UA")
            rows.append(row)
        st.markdown("**Per held-out speaker**" if all(n == 1 for n in named)
                    else "**Per fold** (its held-out speakers)" if any(named) else "**Per fold**")
        st.dataframe(pd.DataFrame(rows).dropna(axis=1, how="all"), hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(c, format="%.2f")
                                    for c in ("UA", "WA", "UA clip by clip", "baseline UA",
                                              "speaker-normalised baseline UA")})
    if base is not None:
        std_ua = (base.get("std") or {}).get("UA")
        text = (f"Peer baseline on the same folds: {base.get('baseline') or 'eGeMAPS + SVM'}, "
                f"UA {base['mean']['UA']:.2f}" + (f" ± {std_ua:.2f}" if std_ua is not None else ""))
        if normed is not None:
            std_n = (normed.get("std") or {}).get("UA")
            text += (f"; with each speaker's features standardised by that speaker's clips (the adapted model's "
                     f"peer), UA {normed['mean']['UA']:.2f}" + (f" ± {std_n:.2f}" if std_n is not None else ""))
        st.caption(text)


def _scores(name: str, value: Mapping, labels) -> None:
    """One block of scores (held-out test set, validation set) with chance beside them."""
    n = value.get("n")
    st.markdown(f"**{BLOCK_TITLES.get(name, name.replace('_', ' '))}**" + (f" · {n} clips" if n else ""))
    shown = [s for s in SCORES if s in value]
    cols = st.columns(len(shown) + (1 if labels else 0))
    for col, score in zip(cols, shown):
        col.metric(score, f"{value[score]:.1%}", help=SCORE_HELP[score])
    if labels:
        cols[-1].metric("Chance UA", f"{1 / len(labels):.1%}", help=CHANCE_HELP)
    if isinstance(value.get("per_class_recall"), Mapping):
        recall = dict(value["per_class_recall"])
        st.dataframe(pd.DataFrame({"recall": recall}).T, width="stretch",
                     column_config={k: st.column_config.NumberColumn(k, format="%.2f") for k in recall})


# ----------------------------------------------------------------------------- the training curves


def _history_frame(history) -> pd.DataFrame | None:
    if not isinstance(history, Sequence) or not history:
        return None
    frame = pd.DataFrame([dict(h) for h in history if isinstance(h, Mapping)])
    if frame.empty:
        return None
    if "epoch" not in frame.columns:
        frame["epoch"] = range(1, len(frame) + 1)
    return frame


def has_validation(history) -> bool:
    frame = _history_frame(history)
    return frame is not None and any(c in frame.columns and frame[c].notna().any() for c in ("val_UA", "val_WA",
                                                                                             "val_loss"))


def loss_name(training: Mapping | None) -> str:
    """The loss the history's ``loss`` column holds, for its axis: "focal loss" or "cross-entropy" (γ = 0); short,
    so that the rotated title fits the loss panel (γ is in the training line)."""
    gamma = float((training or {}).get("focal_gamma", 2.0))
    return "focal loss" if gamma else "cross-entropy"


def training_figure(history, *, classes: int | None = None, best_epoch: int | None = None,
                    loss: str = "loss") -> go.Figure | None:
    """Loss (its own panel, from zero) above UA / WA in percent on 0-100 %: train solid, validation dashed in
    another colour when the history has it, chance UA dotted; None without a history."""
    frame = _history_frame(history)
    if frame is None:
        return None

    def present(names):
        return [c for c in names if c in frame.columns and pd.api.types.is_numeric_dtype(frame[c])
                and frame[c].notna().any()]

    losses, scores = present(LOSS_CURVES), present(SCORE_CURVES)
    if not losses and not scores:
        return None
    rows = (["loss"] if losses else []) + (["score"] if scores else [])
    fig = make_subplots(rows=len(rows), cols=1, shared_xaxes=True, vertical_spacing=0.14,
                        row_heights=[0.4, 0.6] if len(rows) == 2 else None)
    x = frame["epoch"]

    def add(column: str, row: int, percent: bool) -> None:
        name, colour, dash, width = CURVES[column]
        value = "%{y:.1%}" if percent else "%{y:.3f}"
        fig.add_trace(go.Scatter(x=x, y=frame[column], name=name, mode="lines",
                                 line=dict(color=colour, dash=dash, width=width),
                                 hovertemplate=f"{value}<extra>{name}</extra>"), row=row, col=1)

    for column in losses:
        add(column, rows.index("loss") + 1, percent=False)
    if scores:
        row = rows.index("score") + 1
        for column in scores:
            add(column, row, percent=True)
        if classes:
            fig.add_trace(go.Scatter(x=[x.min(), x.max()], y=[1 / classes] * 2, name=f"chance UA ({1 / classes:.0%})",
                                     mode="lines", line=dict(color=GREY, dash="dot", width=1.5),
                                     hovertemplate=f"chance UA {1 / classes:.1%}<extra></extra>"), row=row, col=1)
        fig.update_yaxes(title_text=SCORE_AXIS, range=[0, 1.02], tickformat=".0%", dtick=0.25, row=row, col=1)
    if losses:
        fig.update_yaxes(title_text=loss, rangemode="tozero", row=rows.index("loss") + 1, col=1)
    if best_epoch:
        for row in range(1, len(rows) + 1):
            fig.add_vline(x=best_epoch, line=dict(color=GREY, dash="dash", width=1), row=row, col=1)
    fig.update_xaxes(title_text=EPOCH_AXIS, row=len(rows), col=1)
    fig.update_xaxes(showgrid=True, range=[x.min() - 0.5, x.max() + 0.5])
    fig.update_yaxes(automargin=True)
    # a second legend row (validation curves) takes its room from the plot: give it back
    height = (HEIGHT if len(rows) == 2 else 320) + (LEGEND_ROW if len(fig.data) > 4 else 0)
    fig.update_layout(height=height, margin=dict(l=72, r=16, t=40, b=48),
                      hovermode="x unified",
                      legend=dict(orientation="h", x=0, xanchor="left", y=1.02, yanchor="bottom"))
    return fig


def history_caption(card) -> str:
    """What the curves are, and why there is (no) validation curve."""
    metrics = card.metrics or {}
    frame = _history_frame(metrics.get("history"))
    modes = (["augmented"] if augmentations(card.training or {}) else []) + \
        (["dropout on"] if _on(card.model_config or {}, "dropout") else [])
    parts = ["Train curves: measured on the training batches during each epoch"
             + (f" ({', '.join(modes)}), so they can sit below the scores on unseen clips." if modes else ".")]
    if frame is not None and {"train_UA", "train_WA"} <= set(frame.columns):
        if (frame["train_UA"] - frame["train_WA"]).abs().max() < 1e-6:
            counts = list((card.data or {}).get("counts", {}).values())
            why = " (every class has the same number of training clips)" if counts and len(set(counts)) == 1 else ""
            parts.append(f"Train UA and WA coincide{why}; WA is dotted on top of UA.")
    if has_validation(metrics.get("history")):
        stop = metrics.get("early_stopping")
        if isinstance(stop, Mapping) and stop.get("best_epoch"):
            speakers = ", ".join(stop.get("val_speakers") or [])
            parts.append(f"Validation: whole clips of training speakers held out ({speakers}); the weights of epoch "
                         f"{stop['best_epoch']} (best validation UA, vertical grey line) were kept.")
        else:
            parts.append("Validation: whole clips held out from the training batches, scored after each epoch.")
    else:
        parts.append("No validation curve: this run had no validation set (its scores on unseen clips are above).")
    return " ".join(parts)


# ----------------------------------------------------------------------------- the card


def _title(loaded: Loaded) -> str:
    """The name the model picker shows (the checkpoint folder), with the architecture when the name hides it."""
    path = Path(loaded.path)
    folder = path.parent.name if path.name == "model" else path.name
    name = loaded.card.model
    return name if not folder or name == folder else folder if name in folder else f"{folder} ({name})"


def render(loaded: Loaded) -> None:
    card = loaded.card
    try:
        spec = models.spec(card.model)
    except Exception:  # noqa: BLE001 - an unknown name is reported by checkpoint.load
        spec = None
    st.markdown(f"#### {_title(loaded)}")
    about = [system_text(spec)] if spec is not None and spec.description else []
    about += [p for p in (parameters_text(loaded.model),) if p]
    if about:
        st.caption(" · ".join(about))
    st.markdown("**Classes:** " + ", ".join(f"`{label}`" for label in card.labels))
    training = dict(card.training or {})
    if card.features is not None:
        f = card.features
        st.markdown("**Features:** " + features_text(f, spec, training))
        if f.source:
            cited, paper = (citation_of(spec), spec.paper) if spec is not None else ("", "")
            st.caption("Source: " + source_text(f.source, cited, paper))
    line, provenance = corpus_lines(card)
    if line:
        st.markdown(line)
    if provenance:
        st.caption(provenance)
    if training:
        st.markdown(recipe_text(training, card.metrics))
        clip = input_text(training, card.features)
        if clip:
            st.markdown(clip)
        st.markdown(augmentation_text(training, card.features))
        if training.get("patience"):
            st.markdown(f"**Early stopping:** after {training['patience']} epochs without a better validation UA, "
                        "keeping the best epoch's weights")
        for w in training.get("pretrained_weights") or []:
            st.markdown(f"**Started from** public {w['branch']} weights `{w['path']}` (sha256 {w['sha256'][:12]}…, "
                        f"{w['loaded']} tensors into {w['into']})")
    _metrics(dict(card.metrics), card.labels)
    figure = training_figure((card.metrics or {}).get("history"), classes=len(card.labels) or card.num_classes,
                             best_epoch=((card.metrics or {}).get("early_stopping") or {}).get("best_epoch"),
                             loss=loss_name(training))
    if figure is not None:
        st.markdown("**Training curves**")
        st.plotly_chart(figure, width="stretch", config={"displayModeBar": False})
        st.caption(history_caption(card))
    st.caption(f"checkpoint {loaded.path} · created {card.created_at or '?'} · serwb {card.serwb_version} · "
               f"weights sha256 {card.weights_sha256[:12]}…")


def _metrics(metrics: dict, labels=()) -> None:
    sentence = evaluation_text(metrics)
    if sentence:
        st.markdown(sentence)
    if domain.cv_of(metrics) is not None and labels:
        _cv(metrics, labels)
    for name, value in metrics.items():
        if name not in ("cv", "baseline") and isinstance(value, Mapping) and any(k in value for k in SCORES):
            _scores(name, value, labels)
