"""Export an analysis as one ZIP, built in memory: what the workbench's Export buttons download.

A clip's ZIP holds the overlay PNGs (``core.figures.overlay_figure``, the same files ``serwb explain``
writes), a PDF report, the maps and curves (NPZ), every audio version (WAV) and ``analysis.json`` with
settings, scores and provenance (model hash, feature config, seeds). A dataset's ZIP holds its figures, a PDF,
the arrays and its metrics. The figures use no pyplot state, so sessions export from threads side by side.
"""

from __future__ import annotations

import datetime as _dt
import io
import zipfile
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from matplotlib.backends.backend_pdf import PdfPages

from core import __version__, jsonsafe
from core.audio import to_wav_bytes
from core.checkpoint import Card
from core.explain.analysis import Analysis
from core.explain.report import npz_arrays, summary
from core.figures import (
    confusion_figure, eca_figure, overlay_figure, probabilities_figure, profiles_figure, time_curves_figure,
    title_page, tsne_figure,
)


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


# ------------------------------------------------------------------------------ one clip


def analysis_pdf(analysis: Analysis, info: Mapping[str, Any], *, shared: bool = False) -> bytes:
    """A PDF report: summary page, probabilities, one page per overlay, the time curves."""
    lines = [
        f"clip            {info.get('clip', {}).get('name', '')}",
        f"clip sha256     {analysis.clip_sha256}",
        f"clip length     {analysis.clip_seconds:.2f} s" + (f", padded to the model's length: it starts "
                                                          f"{analysis.clip_offset:.2f} s into the model input "
                                                          "(figures show the clip itself)"
                                                          if analysis.clip_offset > 0 else ""),
        f"model           {info.get('model', {}).get('name', '')}",
        f"checkpoint hash {info.get('model', {}).get('checkpoint_hash') or ''}",
        f"weights sha256  {analysis.model_hash}",
        f"features        {analysis.cfg.name} ({analysis.cfg.kind}, {analysis.cfg.sample_rate} Hz, "
        f"window {analysis.cfg.window_ms:g} ms, hop {analysis.cfg.hop_ms:g} ms)",
        f"prediction      {analysis.predicted_label}",
        f"explained       {analysis.labels[analysis.target]}",
        "",
        "probabilities",
        *[f"  {label:<14}{p:.3f}" for label, p in zip(analysis.labels, analysis.probabilities)],
        "",
        "maps (seconds to compute)",
        *[f"  {name:<14}{m.seconds:.2f} s" for name, m in analysis.maps.items()],
        "",
        f"seeds           {info.get('seeds')}",
        f"serwb {info.get('serwb_version')} · torch {info.get('torch_version')} · {info.get('exported_at')}",
    ]
    if analysis.errors:
        lines += ["", "methods that could not run:", *[f"  {k}: {v}" for k, v in analysis.errors.items()]]
    buf = io.BytesIO()
    with PdfPages(buf) as pdf:
        for fig in [title_page("serwb analysis", lines), probabilities_figure(analysis),
                    *[overlay_figure(analysis, method, shared=shared) for method in analysis.maps],
                    time_curves_figure(analysis)]:
            pdf.savefig(fig)
    return buf.getvalue()


def analysis_zip(analysis: Analysis, *, card: Card | None = None, checkpoint_hash: str | None = None,
                 clip_name: str = "", shared: bool = False, extra: Mapping[str, Any] | None = None) -> bytes:
    """The ZIP for one analysed clip (see the module docstring for its contents)."""
    info = provenance(card, checkpoint_hash, clip_name=clip_name, clip_sha256=analysis.clip_sha256,
                      methods=list(analysis.maps),
                      settings=analysis.settings.to_dict())
    arrays = npz_arrays(analysis) | {"probabilities": analysis.probabilities}
    arrays.update({f"{name}_time_curve": curve for name, curve in analysis.time_curves.items()})
    if analysis.focus_curve is not None:
        arrays["focus_curve"], arrays["focus_gate"] = analysis.focus_curve, analysis.focus_gate
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for method in analysis.maps:
            zf.writestr(f"overlays/overlay-{method}.png", _png(overlay_figure(analysis, method, shared=shared)))
        zf.writestr("report.pdf", analysis_pdf(analysis, info, shared=shared))
        zf.writestr("maps.npz", _npz(arrays))
        for name, version in analysis.audio.items():
            zf.writestr(f"audio/{name}.wav", to_wav_bytes(version.wave, analysis.sr))
        zf.writestr("analysis.json", _json(summary(analysis, {"provenance": info, **(extra or {})})))
    return buf.getvalue()


# ------------------------------------------------------------------------------ a dataset


def dataset_zip(dataset, *, card: Card | None = None, checkpoint_hash: str | None = None, source: str = "",
                extra: Mapping[str, Any] | None = None) -> bytes:
    """The ZIP for a dataset analysis (a ``core.explain.dataset.DatasetAnalysis``)."""
    info = provenance(card, checkpoint_hash) | {"source": source, "dataset_key": dataset.key}
    figures: dict[str, Any] = {}
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
            "localisation": dataset.localisation, "skipped": dataset.skipped,
            "clips": [{"path": p, "true": dataset.labels[t] if t >= 0 else None, "predicted": dataset.labels[y]}
                      for p, t, y in zip(dataset.paths, dataset.true, dataset.predicted)], **(extra or {})}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        figures["confusion"] = confusion_figure(dataset.confusion, dataset.labels)
        if dataset.tsne is not None:
            figures["tsne"] = tsne_figure(dataset)
        for method in dataset.frequency_profiles:
            figures[f"profile-{method}"] = profiles_figure(dataset, method)
        for tap, profile in (dataset.eca or {}).items():
            figures[f"eca-{tap}"] = eca_figure(profile)
        pdf = io.BytesIO()
        with PdfPages(pdf) as pages:
            summary_lines = [f"{k:<10}{v:.3f}" for k, v in dataset.metrics.items() if isinstance(v, float)]
            title = title_page("serwb dataset analysis", [f"source    {source}", f"clips     {len(dataset.paths)}",
                                                           f"model     {info.get('model', {}).get('name', '')}",
                                                           *summary_lines])
            pages.savefig(title)
            for name, fig in figures.items():
                pages.savefig(fig)
                zf.writestr(f"figures/{name}.png", _png(fig))
        zf.writestr("report.pdf", pdf.getvalue())
        zf.writestr("dataset.npz", _npz(arrays))
        zf.writestr("dataset.json", _json(data))
    return buf.getvalue()
