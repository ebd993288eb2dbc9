"""What a model card says about the model's domain, in words for the page: the corpus it was trained
on (``core.data.provenance``: real or synthetic speech, language), how well it does on speakers it
never heard (cross-validation or a held-out split) against chance, and how it pads short clips.

Text only, from the card; nothing is computed here but means of numbers the card already holds.
"""

from __future__ import annotations

from typing import Mapping

from core.checkpoint import Card
from core.data import provenance
from core.data.provenance import CorpusInfo

#: A shorter name than the provenance title, where the title would repeat "synthetic".
SHORT_TITLES = {"serwb-demo": "espeak-ng demo"}
#: How each ``core.audio.PADDINGS`` kind fills the time before and after a short clip.
PADDING_WORDS = {"zeros": "silence", "noise-floor": "noise at the clip's own background level"}


def count(n: int, noun: str) -> str:
    """``n`` with its noun, singular or plural as a person writes it ("1 clip", "3 clips")."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def corpus(card: Card) -> CorpusInfo | None:
    """Provenance of the corpus the card says the model was trained on (None: unnamed or unknown)."""
    name = (card.data or {}).get("corpus")
    return provenance.info(str(name)) if name else None


def speech_kind(card: Card) -> str | None:
    """"real" or "synthetic" (the first word of ``CorpusInfo.speech``), or None when unknown."""
    info = corpus(card)
    return info.speech.split(" ", 1)[0] if info is not None else None


def is_real(card: Card) -> bool:
    return corpus(card) is not None and corpus(card).speech == provenance.REAL


def trained_on(card: Card) -> str | None:
    """E.g. "Trained on real Polish speech (Emotions in Polish speech recordings)"."""
    info = corpus(card)
    if info is None:
        name = (card.data or {}).get("corpus")
        return f"Trained on corpus '{name}'" if name else None
    return (f"Trained on {speech_kind(card)} {info.language} speech "
            f"({SHORT_TITLES.get(info.name, info.title)})")


def protocol_short(protocol: str) -> str:
    """The protocol's name without its details: "leave-one-speaker-out (5 speakers); ..." -> "leave-one-speaker-out"
    ("cross-validation" shortened to "CV")."""
    return protocol.split(";", 1)[0].split(" (", 1)[0].strip().replace("cross-validation", "CV")


def cv_of(metrics: Mapping) -> Mapping | None:
    """Cross-validation results in a card's metrics (``metrics["cv"]`` with a mean UA), or None."""
    found = (metrics or {}).get("cv")
    return found if isinstance(found, Mapping) and "UA" in (found.get("mean") or {}) else None


def cv_protocol(metrics: Mapping) -> str | None:
    """What the cross-validation folds were, e.g. "leave-one-speaker-out (5 speakers)" (older cards, without
    the folds' own protocol: "speaker-independent 5-fold cross-validation" when grouped)."""
    found = cv_of(metrics)
    if found is None:
        return None
    if found.get("protocol"):
        return str(found["protocol"])
    k = found.get("k", len(found.get("folds") or []) or "?")
    if found.get("grouped"):
        return f"speaker-independent {k}-fold cross-validation"
    return str(metrics.get("protocol") or f"{k}-fold cross-validation")


def chance(card: Card) -> float | None:
    """The UA of a constant or random guess: 1 / the number of classes."""
    n = len(card.labels) or card.num_classes
    return 1.0 / n if n else None


def score(card: Card) -> str | None:
    """The model's UA on speakers it was not trained on, with its protocol and the chance level: e.g.
    "UA 0.72 ± 0.08 leave-one-speaker-out · chance 0.33" or "held-out UA 0.90 · chance 0.25". A model adapted to
    each speaker (AdaBN, ``core.training.adapt``) is scored clip by clip first, as the pages use it, then adapted:
    "UA 0.61 ± 0.08 leave-one-speaker-out · 0.74 adapted to each speaker's clips · chance 0.33"."""
    metrics = card.metrics or {}
    found = cv_of(metrics)
    if found is not None:
        adapted = found["mean"]["UA"] if "unadapted" in found else None
        found = found.get("unadapted") or found  # a clip on its own is predicted with the trained statistics
        std = (found.get("std") or {}).get("UA")
        text = f"UA {found['mean']['UA']:.2f}" + (f" ± {std:.2f}" if std is not None else "") \
            + f" {protocol_short(cv_protocol(metrics))}"
        if adapted is not None:
            text += f" · {adapted:.2f} adapted to each speaker's clips"
    elif isinstance(metrics.get("held_out"), Mapping) and "UA" in metrics["held_out"]:
        text = f"held-out UA {metrics['held_out']['UA']:.2f}"
    else:
        return None
    level = chance(card)
    return text + (f" · chance {level:.2f}" if level else "")


def summary(card: Card) -> str | None:
    """The domain at a glance: where the model comes from and how far to trust it."""
    parts = [p for p in (trained_on(card), score(card)) if p]
    return " · ".join(parts) or None


def window_note(clip_seconds: float, window_seconds: float) -> str:
    """Says that a long clip's maps were stitched from windows of the training length, and why."""
    return (f"This {clip_seconds:.1f} s clip is much longer than the {window_seconds:.2f} s clips the model was "
            f"trained on: the prediction is the whole clip's, and each map is explained window by window "
            f"({window_seconds:.2f} s each, back to back) and stitched on the clip's timeline, so every part is "
            "explained at the length the model knows and the time taken grows only linearly with the clip.")


def padding_note(card: Card, clip_seconds: float, offset: float) -> str:
    """Says that a short clip was padded before the model heard it, with what, and how figures show it."""
    seconds = (card.training or {}).get("seconds")
    length = f" of {seconds:g} s" if seconds else ""
    filled = PADDING_WORDS.get(card.padding, card.padding)
    return (f"The model hears this {clip_seconds:.2f} s clip padded to its training length{length}: {offset:.2f} s of "
            f"{filled} before and after it. Maps and curves show the clip itself (the padding cropped); "
            "the players play what the model heard.")
