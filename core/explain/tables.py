"""Explanation quality over a corpus: one table per question, one row per method.

- localisation on planted-cue clips (rows with ``cue_start``/``cue_end``): mean share of
  positive attribution inside the cue, pointing-game accuracy, and the chance level; where the clips record
  each word's span (the real planted-cue set), also how often the model itself, hearing each word alone, ranks
  the planted word first, and each method's pointing on those clips;
- faithfulness: mean deletion / insertion AUC (time frames) against a random order;
- sanity: mean rank correlation with the original map after randomising the whole network
  (top down), for the methods that depend on weights.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from core.audio import Clip, load_audio
from core.data.corpora import Manifest
from core.data.real_cue import word_spans
from core.errors import CorpusError
from core.explain.analysis import Settings, analyze
from core.explain.evaluate import Unit, agreement, faithfulness, localisation, randomisation_check
from core.explain import methods as registry

Progress = Callable[[float], None]


def cue_rows(manifest: Manifest) -> Manifest:
    rows = tuple(r for r in manifest.rows if r.extra.get("cue_start") and r.extra.get("cue_end"))
    if not rows:
        raise CorpusError(f"The corpus at {manifest.root} has no planted-cue clips (rows with cue_start and cue_end). "
                          "The demo corpus has them: serwb corpus demo --out DIR.")
    return replace(manifest, rows=rows)


def localisation_results(model, card, manifest: Manifest, methods: Sequence[str] = ("gradcam", "occlusion", "lime"),
                         settings: Settings = Settings(), device: str = "auto",
                         progress: Progress | None = None) -> dict[str, list]:
    """Per method, one ``Localisation`` per cue clip the model can be judged on: its label is one of the model's
    emotions and its speaker is not one the model was trained on (``card.data["speakers"]``, when recorded).

    Each clip is explained for its *labelled* emotion (the planted one), not the prediction.
    """
    cues = cue_rows(manifest)
    labels = list(card.labels)
    heard = card.trained_speakers
    per_method: dict[str, list] = {}
    for i, row in enumerate(cues.rows):
        if row.label not in labels or row.speaker in heard:
            continue
        clip = load_audio(row.path)
        target_settings = replace(settings, target=labels.index(row.label), audio=False)
        analysis = analyze(clip, model, card, methods=methods, settings=target_settings, device=device)
        offset = analysis.clip_offset
        start, end = float(row.extra["cue_start"]) + offset, float(row.extra["cue_end"]) + offset
        ranks_first = cue_word_first(clip, row, model, card, target_settings, device)
        for name, m in analysis.maps.items():
            found = replace(localisation(m, start, end), model_ranks_cue_first=ranks_first, emotion=row.label)
            per_method.setdefault(name, []).append(found)
        if progress:
            progress((i + 1) / len(cues.rows))
    return per_method


def cue_word_first(clip: Clip, row, model, card, settings: Settings, device: str = "auto") -> bool | None:
    """Does the model, hearing each word of ``clip`` alone (padded as any short clip is), give the planted word the
    highest probability of ``settings.target``? None when ``row`` records no word spans (``word_start_samples``,
    ``word_end_samples``, ``cue_start_sample``: the real planted-cue set has them).

    A map faithful to a model that finds another word more angry than the planted one points at that word: this
    is what a method's pointing can reach on this model, and the clips where it holds say how well each method
    points when the model itself gets the word right.
    """
    found = word_spans(row)
    if found is None:
        return None
    spans, cue = found
    scores = []
    for s, e in spans:
        word = Clip(clip.wave[s:e], clip.sr, clip.source_sr, clip.source_channels, f"{clip.sha256}:{s}-{e}")
        scores.append(analyze(word, model, card, methods=(), settings=settings, device=device)
                      .probabilities[settings.target])
    return cue == int(np.argmax(scores))


def summarise_localisation(per_method: dict[str, list]) -> dict[str, dict[str, float]]:
    """Per method: mean inside-cue share, pointing-game accuracy and chance over the clips; where the clips record
    their words, the share in which the model ranks the planted word first (``model_ranks_cue_first``, one value
    for every method) and the method's pointing on those clips (``pointing_where_model_ranks_cue_first``)."""
    table = {}
    for name, results in per_method.items():
        table[name] = {"inside_share": float(np.mean([r.inside_share for r in results])),
                       "pointing_accuracy": float(np.mean([r.pointing_hit for r in results])),
                       "chance": float(np.mean([r.chance for r in results])),
                       "clips": len(results)}
        ranked = [r for r in results if r.model_ranks_cue_first is not None]
        if ranked:
            first = [r for r in ranked if r.model_ranks_cue_first]
            table[name] |= {"model_ranks_cue_first": len(first) / len(ranked),
                            "pointing_where_model_ranks_cue_first":
                                float(np.mean([r.pointing_hit for r in first])) if first else float("nan")}
    return table


def localisation_by_emotion(per_method: dict[str, list]) -> dict[tuple[str, str], dict[str, float]]:
    """``summarise_localisation`` of each planted emotion's clips alone, one row per (method, emotion); empty when
    the clips plant only one emotion. An average over emotions can hide that the model hears one planted emotion
    and not another, and then no map can point at the word it does not hear."""
    emotions = sorted({r.emotion for results in per_method.values() for r in results})
    if len(emotions) < 2:
        return {}
    table = {}
    for name, results in per_method.items():
        for emotion in emotions:
            chosen = [r for r in results if r.emotion == emotion]
            if chosen:
                table[name, emotion] = summarise_localisation({name: chosen})[name]
    return table


def localisation_tables(per_method: dict[str, list]) -> dict[str, dict[str, dict[str, float]]]:
    """The localisation table, and (``localisation_by_emotion``) the same per planted emotion where there are
    several, its rows named "method: emotion"."""
    by_emotion = {f"{name}: {emotion}": row for (name, emotion), row in localisation_by_emotion(per_method).items()}
    return {"localisation": summarise_localisation(per_method)} | (
        {"localisation by emotion": by_emotion} if by_emotion else {})


def faithfulness_table(model, card, manifest: Manifest, methods: Sequence[str] = ("gradcam", "occlusion", "lime"),
                       settings: Settings = Settings(), device: str = "auto", max_clips: int = 20,
                       unit: Unit = "cells", baseline_kind: str = "mean",
                       progress: Progress | None = None) -> dict[str, dict[str, float | int | str]]:
    """Per method (and a random order): mean deletion and insertion AUC over up to ``max_clips`` clips."""
    rows = manifest.rows[:max_clips]
    aucs: dict[str, dict[str, list]] = {}
    for i, row in enumerate(rows):
        analysis = analyze(load_audio(row.path), model, card, methods=methods, settings=replace(settings, audio=False),
                           device=device)
        subject = analysis.subject(model)
        for name, curves in faithfulness(subject, analysis.maps, unit=unit, baseline_kind=baseline_kind).items():
            for mode, curve in curves.items():
                aucs.setdefault(name, {}).setdefault(mode, []).append(curve.auc)
        if progress:
            progress((i + 1) / len(rows))
    return {name: {f"{mode}_auc": float(np.mean(v)) for mode, v in modes.items()}
            | {"unit": unit, "baseline": baseline_kind, "clips": len(rows)} for name, modes in aucs.items()}


def sanity_table(model, card, manifest: Manifest, methods: Sequence[str] = ("gradcam",), settings: Settings = Settings(),
                 device: str = "auto", max_clips: int = 5, progress: Progress | None = None) -> dict[str, dict]:
    """Each method's rank correlation with its own map after every layer is randomised, top down (mean over clips);
    methods the model cannot run are left out."""
    rows = manifest.rows[:max_clips]
    methods = [m for m in methods if registry.unmet_need(m, model) is None]
    final: dict[str, list[float]] = {m: [] for m in methods}
    for i, row in enumerate(rows):
        analysis = analyze(load_audio(row.path), model, card, methods=(), settings=replace(settings, audio=False),
                           device=device)
        subject = analysis.subject(model)
        for method in methods:
            explain = lambda s, m=method, t=analysis.target: registry.explain(m, s, t, settings.of(m))[m]  # noqa: E731
            steps = randomisation_check(subject, explain)
            final[method].append(steps[-1].rank_correlation if steps else float("nan"))
            if progress:
                progress((i + (methods.index(method) + 1) / len(methods)) / len(rows))
    return {m: {"rank_correlation_fully_randomised": float(np.nanmean(v)), "clips": len(rows)} for m, v in final.items()}


def clip_metrics(model, analysis, *, fraction: float = 0.2, unit: Unit = "cells",
                 baseline_kind: str = "mean") -> dict:
    """One clip's numbers (for ``serwb explain``): agreement of every pair of maps, and each map's
    deletion and insertion AUC with the random-order reference."""
    maps = {n: m for n, m in analysis.maps.items() if not n.startswith("gradcam-")}
    if not maps:
        return {}
    subject = analysis.subject(model)
    curves = faithfulness(subject, maps, unit=unit, baseline_kind=baseline_kind)
    return {
        "agreement": {f"{a} vs {b}": scores for (a, b), scores in agreement(maps, fraction).items()},
        "agreement_top_fraction": fraction,
        "faithfulness": {name: {f"{mode}_auc": curve.auc for mode, curve in modes.items()}
                         for name, modes in curves.items()},
        "faithfulness_unit": unit, "faithfulness_baseline": baseline_kind,
    }


def markdown(results: dict[str, dict]) -> str:
    """The tables as Markdown: one section per table, one row per method (or one row for sanity)."""
    out = []
    for name, table in results.items():
        rows = table if all(isinstance(v, dict) for v in table.values()) else {"": table}
        columns = sorted({c for row in rows.values() for c in row}, key=lambda c: (c == "clips", c in ("unit", "baseline"), c))
        out += [f"### {name}", "", "| method | " + " | ".join(columns) + " |",
                "|---|" + "---|" * len(columns)]
        for method, row in rows.items():
            cells = [f"{row[c]:.3f}" if isinstance(row.get(c), float) else str(row.get(c, "")) for c in columns]
            out.append(f"| {method} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)
