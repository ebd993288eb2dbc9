"""Export an analysis as one ZIP, built in memory: what the workbench's Export buttons download.

A clip's ZIP holds the overlay PNGs (``core.figures.overlay_figure``, the same files ``serwb explain``
writes), a PDF report, the maps and curves (NPZ), every audio version (WAV) and ``analysis.json`` with
settings, scores and provenance (model hash, feature config, seeds). A dataset's ZIP holds its figures, a PDF,
the arrays and its metrics. The figures use no pyplot state, so sessions export from threads side by side.

The PDFs are A4 portrait throughout. A clip's report opens with the clip (prediction, waveform, spectrogram),
then the overlays two to a page, then the scores of the audio versions, the timings and the errors, and ends
with a compact provenance page. A dataset's report opens with every table the Dataset page shows (metrics and
chance level, per-class recall and confusion, localisation, clips left out), then its figures, then provenance.
Every ZIP entry unpacks as an ordinary readable file (mode 0644).
"""

from __future__ import annotations

import datetime as _dt
import io
import textwrap
import time
import zipfile
from functools import partial
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
from matplotlib.backends.backend_pdf import PdfPages

from core import __version__, jsonsafe
from core.audio import to_wav_bytes
from core.checkpoint import Card
from core.explain.analysis import Analysis
from core.explain.report import npz_arrays, summary, timeline
from core.figures import (
    Table, clip_page, confusion_figure, eca_figure, figure_pages, method_title, overlay_figure, profiles_figure,
    table_pages, time_curves_figure, tsne_figure,
)

#: The permissions of every file unpacked from an export: rw-r--r--.
ENTRY_MODE = 0o644


# ------------------------------------------------------------------------------ provenance


def provenance(card: Card | None = None, checkpoint_hash: str | None = None, *, clip_name: str = "",
               clip_sha256: str = "", settings: Mapping | None = None,
               methods: Sequence[str] | None = None) -> dict[str, Any]:
    """Where a result came from: software, model (hashes, config, training seed), clip, and the seeds of the
    ``methods`` that ran (every method in ``settings`` when not given)."""
    training = dict(card.training or {}) if card is not None else {}
    seeds = {"training": training.get("seed")}
    for method, values in ((settings or {}).get("methods") or {}).items():
        if isinstance(values, Mapping) and "seed" in values and (methods is None or method in methods):
            seeds[method] = values["seed"]
    result = {
        "serwb_version": __version__,
        "torch_version": torch.__version__,
        "exported_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seeds": seeds,
    }
    if card is not None:
        result["model"] = {
            "name": card.model, "config": dict(card.model_config), "labels": list(card.labels),
            "checkpoint_hash": checkpoint_hash, "weights_sha256": card.weights_sha256,
            "created_at": card.created_at, "trained_with_serwb": card.serwb_version,
            "feature_preset": card.feature_preset, "data": dict(card.data),
        }
    if clip_name or clip_sha256:
        result["clip"] = {"name": clip_name, "sha256": clip_sha256}
    return result


def _json(data: Any) -> str:
    return jsonsafe.dumps(data)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _npz(arrays: Mapping[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def number_pages(pages: Sequence, title: str) -> Sequence:
    """``pages`` with a footer each: the report's title and the page number."""
    for number, page in enumerate(pages, 1):
        page.text(0.5, 0.25 / page.get_figheight(), f"{title} · page {number} of {len(pages)}", ha="center",
                  fontsize=7, color="#666666")
    return pages


def _pdf(pages: Sequence, title: str) -> bytes:
    """The pages (matplotlib figures), numbered, as one PDF."""
    buf = io.BytesIO()
    with PdfPages(buf, metadata={"Title": title, "Creator": f"serwb {__version__}"}) as pdf:
        for page in number_pages(pages, title):
            pdf.savefig(page)
    return buf.getvalue()


def _zip(entries: Iterable[tuple[str, bytes | str]]) -> bytes:
    """A deflated ZIP of ``(name, data)`` entries, each dated now and unpacking with mode 0644 (``writestr``
    with a bare name gives 0600: files only their owner can read)."""
    stamp = time.localtime()[:6]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so that unzip applies the mode below
            info.external_attr = (0o100000 | ENTRY_MODE) << 16  # a regular file, rw-r--r--
            zf.writestr(info, data)
    return buf.getvalue()


def _pairs(values: Mapping[str, Any]) -> str:
    """``{"a": 1, "b": 2}`` as ``a=1, b=2`` (floats shortened)."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def provenance_table(info: Mapping[str, Any], rows: Sequence[tuple[str, str]] = ()) -> Table:
    """Where a report came from, one fact a row: ``rows`` first (clip, features, settings), then the model's
    hashes, the seeds and the software (from ``provenance``)."""
    model = info.get("model") or {}
    facts = [*rows,
             ("model", str(model.get("name", "(no model card)"))),
             ("checkpoint hash", str(model.get("checkpoint_hash") or "")),
             ("weights sha256", str(model.get("weights_sha256") or "")),
             ("model created", f"{model.get('created_at') or ''} (serwb {model.get('trained_with_serwb') or '?'})"),
             ("feature preset", str(model.get("feature_preset") or "")),
             ("seeds", _pairs(info.get("seeds") or {})),
             ("software", f"serwb {info.get('serwb_version')}, torch {info.get('torch_version')}"),
             ("exported at", str(info.get("exported_at", "")))]
    return Table("", ["what", "value"], [[k, v] for k, v in facts if v], wrap={1: 76})


# ------------------------------------------------------------------------------ one clip


def _clip_lines(analysis: Analysis, info: Mapping[str, Any]) -> list[str]:
    """The facts under the title of a clip's report."""
    name = info.get("clip", {}).get("name") or "(unnamed clip)"
    model = info.get("model", {})
    seconds = timeline(analysis)["model_input_seconds"]
    where = (f"; padded to the model's {seconds:.2f} s, it starts {analysis.clip_offset:.2f} s into the model "
             "input (figures show the clip itself)" if analysis.clip_offset > 0 and seconds else "")
    lines = [f"clip: {name}, {analysis.clip_seconds:.2f} s at {analysis.sr} Hz{where}",
             f"model: {model.get('name', '(no model card)')}"
             + (f", checkpoint {model['checkpoint_hash'][:12]}" if model.get("checkpoint_hash") else "")
             + f", features {analysis.cfg.name} ({analysis.cfg.kind})",
             f"predicted '{analysis.predicted_label}' (p = {analysis.probabilities[analysis.predicted]:.3f}); "
             f"the maps explain '{analysis.labels[analysis.target]}'",
             "methods: " + (", ".join(method_title(m) for m in analysis.maps) or "none")
             + (f"; {len(analysis.errors)} could not run (see the errors table)" if analysis.errors else "")]
    return [part for line in lines for part in textwrap.wrap(line, 100)]


def _score_tables(analysis: Analysis) -> list[Table | str]:
    """The scores of every audio version, what each version is, the timings and the errors."""
    labels, target = list(analysis.labels), analysis.target
    versions = {"original": analysis.probabilities} | {n: v.probabilities for n, v in analysis.audio.items()
                                                       if n != "original"}
    base = float(analysis.probabilities[target])
    rows = [[name, *(f"{p:.3f}" for p in probs), labels[int(np.argmax(probs))], f"{float(probs[target]) - base:+.3f}"]
            for name, probs in versions.items()]
    items: list[Table | str] = [Table(
        "Probabilities of each audio version", ["version", *labels, "top", f"change in p({labels[target]})"], rows,
        note="Each version re-scored by the model; the change is against the original, for the explained class.")]
    if len(analysis.audio) > 1:
        items.append(Table("What each audio version is", ["version", "description"],
                           [[n, v.description] for n, v in analysis.audio.items()], wrap={1: 72}))
    steps = [[method_title(k) if k in analysis.maps or k in analysis.errors else k, f"{v:.2f}"]
             for k, v in analysis.timings.items()]
    items.append(Table("Timings", ["step", "seconds"], steps + [["total", f"{sum(analysis.timings.values()):.2f}"]]))
    if analysis.errors:
        items.append(Table("Methods that could not run", ["method", "why"],
                           [[method_title(k), v] for k, v in analysis.errors.items()], wrap={1: 72}))
    else:
        items.append("Every requested method ran.")
    return items


def _clip_facts(analysis: Analysis, info: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The clip's rows of the provenance table: its hash, features and analysis settings."""
    settings = analysis.settings.to_dict()
    methods = [f"{m}: {_pairs(settings['methods'].get(m, {}))}" for m in analysis.maps if m in settings["methods"]]
    return [("clip", str(info.get("clip", {}).get("name", ""))), ("clip sha256", analysis.clip_sha256),
            ("features", _pairs(analysis.cfg.to_dict())),
            ("settings", f"target={analysis.labels[analysis.target]}, "
                         f"keep_fraction={analysis.settings.keep_fraction:g}, "
                         f"griffin_lim_iters={analysis.settings.griffin_lim_iters}, focus: "
                         + _pairs(settings.get("focus") or {})),
            *(("method settings" if i == 0 else "", line) for i, line in enumerate(methods))]


def analysis_pages(analysis: Analysis, info: Mapping[str, Any], *, ranked: bool = False) -> list:
    """The report's A4 pages: the clip, the overlays (and time curves) two to a page, the scores, provenance."""
    name = info.get("clip", {}).get("name") or "one clip"
    title = "serwb analysis: " + textwrap.shorten(name, 48, placeholder="...")
    draws = [partial(overlay_figure, analysis, method, ranked=ranked) for method in analysis.maps]
    if analysis.time_curves:
        draws.append(partial(time_curves_figure, analysis))
    return [clip_page(analysis, title, _clip_lines(analysis, info)), *figure_pages(draws),
            *table_pages("Scores, timings and errors", [], _score_tables(analysis)),
            *table_pages("Provenance", [], [provenance_table(info, _clip_facts(analysis, info))])]


def analysis_pdf(analysis: Analysis, info: Mapping[str, Any], *, ranked: bool = False) -> bytes:
    """The clip's PDF report (``analysis_pages``)."""
    return _pdf(analysis_pages(analysis, info, ranked=ranked), "serwb analysis")


def analysis_zip(analysis: Analysis, *, card: Card | None = None, checkpoint_hash: str | None = None,
                 clip_name: str = "", ranked: bool = False, extra: Mapping[str, Any] | None = None) -> bytes:
    """The ZIP for one analysed clip (see the module docstring for its contents)."""
    info = provenance(card, checkpoint_hash, clip_name=clip_name, clip_sha256=analysis.clip_sha256,
                      methods=list(analysis.maps),
                      settings=analysis.settings.to_dict())
    arrays = npz_arrays(analysis) | {"probabilities": analysis.probabilities}
    arrays.update({f"{name}_time_curve": curve for name, curve in analysis.time_curves.items()})
    if analysis.focus_curve is not None:
        arrays["focus_curve"], arrays["focus_gate"] = analysis.focus_curve, analysis.focus_gate
    entries = [(f"overlays/overlay-{method}.png", _png(overlay_figure(analysis, method, ranked=ranked)))
               for method in analysis.maps]
    entries += [("report.pdf", analysis_pdf(analysis, info, ranked=ranked)), ("maps.npz", _npz(arrays))]
    entries += [(f"audio/{name}.wav", to_wav_bytes(version.wave, analysis.sr))
                for name, version in analysis.audio.items()]
    entries.append(("analysis.json", _json(summary(analysis, {"provenance": info, **(extra or {})}))))
    return _zip(entries)


# ------------------------------------------------------------------------------ a dataset

#: What each metric means, as the Dataset page explains it.
METRICS = {"UA": "unweighted accuracy: the mean of the per-class recalls",
           "WA": "weighted accuracy: the share of clips predicted right",
           "ACC": "(UA + WA) / 2",
           "chance_UA": "what a constant or random guess scores"}
#: At most this many clips left out are listed in the PDF (all of them are in dataset.json).
SKIPPED_LISTED = 30


def _metrics_table(dataset) -> Table:
    """UA, WA, ACC and the chance level, with the number of clips scored."""
    chance = dataset.metrics.get("chance_UA", 1 / len(dataset.labels))
    rows = [[k, f"{dataset.metrics[k]:.1%}", METRICS[k]] for k in ("UA", "WA", "ACC") if k in dataset.metrics]
    rows += [["chance UA", f"{chance:.1%}", METRICS["chance_UA"] + f" over {len(dataset.labels)} classes"]]
    return Table("Metrics", ["metric", "value", "meaning"], rows,
                 note=f"{int(dataset.metrics.get('n', 0))} clips scored; a constant or random guess scores about "
                      "the chance level, whatever the class balance.")


def _recall_table(dataset) -> Table:
    """Per true emotion: the confusion row (clips per predicted emotion), its clips and its recall; the labels
    the model has no class for as extra rows, not scored."""
    labels, confusion = list(dataset.labels), np.asarray(dataset.confusion)
    recall = dataset.metrics.get("per_class_recall") or {}
    rows = [[label, *map(str, confusion[i]), str(int(confusion[i].sum())),
             "—" if recall.get(label) is None else f"{recall[label]:.1%}"] for i, label in enumerate(labels)]
    rows += [[f"{label} (not scored)", *map(str, counts), str(int(counts.sum())), "—"]
             for label, counts in dataset.unknown_predicted().items()]
    return Table("Per-class recall and confusion", ["true \\ predicted", *labels, "clips", "recall"], rows,
                 note="Rows: the labelled emotion; columns: what the model predicted (clips in each cell).")


def _localisation_tables(dataset) -> list[Table | str]:
    """The localisation table of the planted-cue clips, every method and column, and the same per planted emotion
    where there are several; or why there is none."""
    if not dataset.localisation:
        return ["Localisation: this corpus has no planted-cue clips, so there is no localisation table."]
    note = ("inside_share: share of positive attribution inside the planted phrase; pointing: the map's peak falls "
            "inside it; chance: the phrase's share of the clip (what a uniform map scores).")
    found = [("Localisation on the planted-cue clips", dataset.localisation),
             ("Localisation per planted emotion", dataset.localisation_by_emotion)]
    return [_rows_table(title, rows, note) for title, rows in found if rows]


def _rows_table(title: str, rows: list[dict], note: str) -> Table:
    """A table of dict rows: every key a column, in first-seen order; floats to three decimals."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    cell = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    return Table(title, columns, [[cell(row.get(c, "")) for c in columns] for row in rows], note=note)


def _skipped_table(dataset) -> Table | str:
    """The clips that could not be read and why (the first ``SKIPPED_LISTED``)."""
    if not dataset.skipped:
        return "Clips left out: none; every clip could be read."
    rows = [[path, why] for path, why in list(dataset.skipped.items())[:SKIPPED_LISTED]]
    more = len(dataset.skipped) - len(rows)
    return Table(f"{len(dataset.skipped)} clip(s) left out (could not be read)", ["clip", "why"], rows,
                 wrap={0: 32, 1: 54}, note=f"The first {len(rows)} shown; all are in dataset.json." if more else "")


def _dataset_lines(dataset, info: Mapping[str, Any], source: str) -> list[str]:
    """The facts under the title of a dataset's report."""
    scored = len(dataset.paths) - dataset.n_unknown
    unknown = ", ".join(f"{n} labelled {label}" for label, n in dataset.unknown_labels.items())
    lines = [f"source: {source or '(not given)'}",
             f"model: {info.get('model', {}).get('name', '?')}, knows {', '.join(dataset.labels)}",
             f"clips: {len(dataset.paths)} analysed, {scored} scored"
             + (f" ({unknown}: no such class in this model, predicted but not scored)" if unknown else "")
             + f"; {len(dataset.skipped)} could not be read"]
    return [part for line in lines for part in textwrap.wrap(line, 100)]


def _dataset_draws(dataset) -> list:
    """The dataset figures, each a callable drawing into a page (``into=``)."""
    draws = [partial(confusion_figure, dataset.confusion, dataset.labels,
                     "confusion matrix (rows: true emotion, columns: predicted)")]
    if dataset.tsne is not None:
        draws.append(partial(tsne_figure, dataset))
    draws += [partial(profiles_figure, dataset, method) for method in dataset.frequency_profiles]
    draws += [partial(eca_figure, profile) for profile in (dataset.eca or {}).values()]
    return draws


def dataset_pages(dataset, info: Mapping[str, Any], source: str = "", features: Mapping | None = None) -> list:
    """The dataset report's A4 pages: summary and every table of the Dataset page, the figures two to a page,
    provenance."""
    tables = [_metrics_table(dataset), _recall_table(dataset), *_localisation_tables(dataset),
              _skipped_table(dataset)]
    facts = [("source", source), ("dataset key", dataset.key), ("features", _pairs(features or {}))]
    return [*table_pages("serwb dataset analysis", _dataset_lines(dataset, info, source), tables),
            *figure_pages(_dataset_draws(dataset)),
            *table_pages("Provenance", [], [provenance_table(info, facts)])]


def dataset_zip(dataset, *, card: Card | None = None, checkpoint_hash: str | None = None, source: str = "",
                extra: Mapping[str, Any] | None = None) -> bytes:
    """The ZIP for a dataset analysis (a ``core.explain.dataset.DatasetAnalysis``)."""
    info = provenance(card, checkpoint_hash) | {"source": source, "dataset_key": dataset.key}
    arrays = {"true": np.asarray(dataset.true), "predicted": np.asarray(dataset.predicted),
              "probabilities": dataset.probabilities, "confusion": dataset.confusion,
              "embeddings": dataset.embeddings, "band_hz": dataset.band_hz}
    if dataset.tsne is not None:
        arrays["tsne"] = dataset.tsne
    for method, per in dataset.frequency_profiles.items():
        arrays.update({f"profile_{method}_{label}": v for label, v in per.items()})
    for tap, profile in (dataset.eca or {}).items():
        arrays[f"eca_{tap}_mean"], arrays[f"eca_{tap}_std"] = profile.mean, profile.std
    data = {"provenance": info, "labels": list(dataset.labels), "metrics": dataset.metrics,
            "localisation": dataset.localisation, "localisation_by_emotion": dataset.localisation_by_emotion,
            "cue_scored": dataset.cue_scored, "skipped": dataset.skipped,
            "clips": [{"path": p, "true": dataset.labels[t] if t >= 0 else None, "predicted": dataset.labels[y]}
                      for p, t, y in zip(dataset.paths, dataset.true, dataset.predicted)], **(extra or {})}
    figures = {"confusion": confusion_figure(dataset.confusion, dataset.labels)}
    if dataset.tsne is not None:
        figures["tsne"] = tsne_figure(dataset)
    figures |= {f"profile-{method}": profiles_figure(dataset, method) for method in dataset.frequency_profiles}
    figures |= {f"eca-{tap}": eca_figure(profile) for tap, profile in (dataset.eca or {}).items()}
    features = card.features.to_dict() if card is not None and card.features is not None else None
    pdf = _pdf(dataset_pages(dataset, info, source, features), "serwb dataset analysis")
    entries = [(f"figures/{name}.png", _png(fig)) for name, fig in figures.items()]
    entries += [("report.pdf", pdf), ("dataset.npz", _npz(arrays)), ("dataset.json", _json(data))]
    return _zip(entries)
