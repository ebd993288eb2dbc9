"""Export an analysis as one ZIP, built in memory: what the workbench's Export buttons download.

A clip's ZIP holds the overlay PNGs (``report.overlay_figure``, the same files ``serwb explain``
writes), a PDF report made with matplotlib, the maps and curves (NPZ), every audio version
(WAV) and ``analysis.json`` with settings, scores and provenance (model hash, feature config,
seeds). A dataset's ZIP holds its figures, a PDF, the arrays and its metrics. Matplotlib's
pyplot state is global, so figure making is serialised by a lock (the workbench serves
several sessions from threads).
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import threading
import zipfile
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from core import __version__  # noqa: E402
from core.audio import to_wav_bytes  # noqa: E402
from core.checkpoint import Card  # noqa: E402
from core.explain.analysis import Analysis  # noqa: E402
from core.explain.colours import OKABE_ITO  # noqa: E402
from core.explain.report import clip_xaxis, jsonable, npz_arrays, overlay_figure, summary  # noqa: E402
from core.figures import confusion_figure  # noqa: E402

_MATPLOTLIB = threading.Lock()


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
    return json.dumps(data, indent=2, default=jsonable)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _npz(arrays: Mapping[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


# ------------------------------------------------------------------------------ one clip


def probabilities_figure(analysis: Analysis):
    """Class probabilities of the original and of every audio version, as grouped bars."""
    versions = {"original": analysis.probabilities} | {n: v.probabilities for n, v in analysis.audio.items()
                                                       if n != "original"}
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=110)
    width = 0.8 / len(analysis.labels)
    x = np.arange(len(versions))
    for i, label in enumerate(analysis.labels):
        ax.bar(x + i * width, [p[i] for p in versions.values()], width, label=label, color=OKABE_ITO[i % len(OKABE_ITO)])
    ax.set_xticks(x + width * (len(analysis.labels) - 1) / 2, list(versions), rotation=30, ha="right")
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1)
    ax.set_title(f"predicted '{analysis.predicted_label}'; explained '{analysis.labels[analysis.target]}'")
    ax.legend(title="emotion", fontsize=8)
    fig.tight_layout()
    return fig


def time_curves_figure(analysis: Analysis):
    """Each map summed over frequency (normalised to its peak over the whole model input), and the S3 focus
    gate, over the clip's own seconds (0 .. its duration; the padding of a short clip cropped)."""
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=110)
    window, times = analysis.on_clip(analysis.frame_times)
    for i, (name, curve) in enumerate(analysis.time_curves.items()):
        peak = float(np.abs(curve).max()) or 1.0
        ax.plot(times, curve[window] / peak, label=name, color=OKABE_ITO[i % len(OKABE_ITO)])
    if analysis.focus_gate is not None:
        start = int(round(analysis.clip_offset * analysis.sr))
        gate = analysis.focus_gate[start:start + int(round(analysis.clip_seconds * analysis.sr))]
        ax.fill_between(np.arange(len(gate)) / analysis.sr, 0, gate, color="#999999", alpha=0.3,
                        label="focus gate (0-1)")
    clip_xaxis(ax, analysis)
    ax.set_ylabel("attribution over frequency\n(normalised)")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def _title_page(title: str, lines: list[str]):
    fig = plt.figure(figsize=(8.27, 11.69), dpi=100)
    fig.text(0.08, 0.93, title, fontsize=18, weight="bold")
    fig.text(0.08, 0.90, "\n".join(lines), fontsize=9, va="top", family="monospace")
    return fig


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
        for fig in [_title_page("serwb analysis", lines), probabilities_figure(analysis),
                    *[overlay_figure(analysis, method, shared=shared) for method in analysis.maps],
                    time_curves_figure(analysis)]:
            pdf.savefig(fig)
            plt.close(fig)
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
        with _MATPLOTLIB:
            for method in analysis.maps:
                zf.writestr(f"overlays/overlay-{method}.png", _png(overlay_figure(analysis, method, shared=shared)))
            zf.writestr("report.pdf", analysis_pdf(analysis, info, shared=shared))
        zf.writestr("maps.npz", _npz(arrays))
        for name, version in analysis.audio.items():
            zf.writestr(f"audio/{name}.wav", to_wav_bytes(version.wave, analysis.sr))
        zf.writestr("analysis.json", _json(summary(analysis, {"provenance": info, **(extra or {})})))
    return buf.getvalue()


# ------------------------------------------------------------------------------ a dataset


def tsne_figure(dataset):
    fig, ax = plt.subplots(figsize=(6, 5), dpi=110)
    for i, label in enumerate(dataset.labels):
        points = dataset.tsne[np.asarray(dataset.true) == i]
        ax.scatter(points[:, 0], points[:, 1], s=14, color=OKABE_ITO[i % len(OKABE_ITO)], label=label)
    ax.set_xlabel("t-SNE 1 (arbitrary units)")
    ax.set_ylabel("t-SNE 2 (arbitrary units)")
    ax.set_title("model embedding, coloured by true emotion")
    ax.legend(title="emotion", fontsize=8)
    fig.tight_layout()
    return fig


def profiles_figure(dataset, method: str):
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    for i, label in enumerate(dataset.labels):
        profile = dataset.frequency_profiles[method].get(label)
        if profile is not None:
            ax.plot(dataset.band_hz, profile, color=OKABE_ITO[i % len(OKABE_ITO)], label=label)
    ax.set_xscale("log")
    ax.set_xlabel("frequency (Hz, mel band centre)")
    ax.set_ylabel("mean attribution per band")
    ax.set_title(f"{method}: frequency profile per emotion")
    ax.legend(title="emotion", fontsize=8)
    fig.tight_layout()
    return fig


def eca_figure(profile):
    fig, ax = plt.subplots(figsize=(8, 3.4), dpi=110)
    channels = np.arange(profile.mean.shape[1])
    for i, label in enumerate(profile.labels):
        if profile.count[i] == 0:
            continue
        ax.plot(channels, profile.mean[i], color=OKABE_ITO[i % len(OKABE_ITO)], label=f"{label} (n={profile.count[i]})")
        ax.fill_between(channels, profile.mean[i] - profile.std[i], profile.mean[i] + profile.std[i],
                        color=OKABE_ITO[i % len(OKABE_ITO)], alpha=0.15)
    ax.set_xlabel("channel")
    ax.set_ylabel("ECA weight (mean ± std)")
    ax.set_title(f"{profile.tap}: per-emotion channel weights")
    ax.legend(title="emotion", fontsize=8)
    fig.tight_layout()
    return fig


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
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, _MATPLOTLIB:
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
            title = _title_page("serwb dataset analysis", [f"source    {source}", f"clips     {len(dataset.paths)}",
                                                           f"model     {info.get('model', {}).get('name', '')}",
                                                           *summary_lines])
            pages.savefig(title)
            plt.close(title)
            for name, fig in figures.items():
                pages.savefig(fig)
                zf.writestr(f"figures/{name}.png", _png(fig))
        zf.writestr("report.pdf", pdf.getvalue())
        zf.writestr("dataset.npz", _npz(arrays))
        zf.writestr("dataset.json", _json(data))
    return buf.getvalue()
