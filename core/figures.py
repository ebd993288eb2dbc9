"""Every matplotlib figure serwb writes: the overlays of ``serwb explain`` and of the Explain export, the report
pages, the Dataset export's figures and the confusion matrix of ``serwb evaluate``.

Built on ``matplotlib.figure.Figure`` (no pyplot state), so worker threads draw them side by side. Figures of one
clip are drawn on the clip's own timeline, 0 .. its duration, as the workbench draws them: a clip shorter than the
model's training length is padded before the model hears it, and the figures crop that padding
(``Analysis.on_clip``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from core.explain.colours import BLUE, OKABE_ITO, VERMILLION, WHITE
from core.explain.maps import normalise, shared_scale

if TYPE_CHECKING:
    from core.explain.analysis import Analysis

#: Colour-blind-safe maps, as in the workbench: the spectrogram in grey, positive-only maps in
#: cividis, signed maps (occlusion, LIME) from Okabe-Ito blue (against) through white to vermillion (for).
SPECTROGRAM_CMAP = "gray_r"
ATTRIBUTION_CMAP = "cividis"
SIGNED_CMAP = LinearSegmentedColormap.from_list("serwb-signed", [BLUE, WHITE, VERMILLION])


def clip_extent(analysis: Analysis, times: np.ndarray) -> tuple[slice, tuple[float, float]]:
    """Which of the frames at ``times`` (the model input's timeline) fall on the clip, and the x extent of
    those frames on the clip's own timeline (0 = its first sample), each frame one hop wide about its time.

    A short clip is padded to the model's length before the model hears it; exported figures, like the
    workbench's, crop that padding and draw on 0 .. the clip's duration."""
    window, clip_times = analysis.on_clip(times)
    if clip_times.size == 0:  # a clip shorter than a hop: the frame nearest its middle
        middle = analysis.clip_offset + analysis.clip_seconds / 2
        i = int(np.argmin(np.abs(np.asarray(times, dtype=float) - middle)))
        window, clip_times = slice(i, i + 1), np.asarray([analysis.clip_seconds / 2])
    half = analysis.cfg.hop_ms / 2000
    return window, (float(clip_times[0]) - half, float(clip_times[-1]) + half)


def clip_xaxis(ax, analysis: Analysis) -> None:
    """The clip's own time axis, 0 .. its duration (as the workbench's ``clip_axis``)."""
    ax.set_xlim(0.0, analysis.clip_seconds)
    ax.set_xlabel("time (s)")


def overlay_figure(analysis: Analysis, method: str, *, shared: bool = False, alpha: float = 0.6):
    """The log-mel spectrogram with one method's map on top, on seconds x Hz axes.

    The map is normalised over the whole model input, then drawn on the clip's own timeline
    (0 .. its duration; the padding of a short clip cropped), as in the workbench."""
    m = analysis.maps[method]
    scale = shared_scale(list(analysis.maps.values())) if shared else None
    window, (left, right) = clip_extent(analysis, m.frame_times)
    fig = Figure(figsize=(8, 3.2), dpi=110, layout="constrained")
    ax = fig.subplots()
    extent = (left, right, -0.5, len(analysis.band_hz) - 0.5)
    ax.imshow(analysis.spectrogram[:, window], origin="lower", aspect="auto", cmap=SPECTROGRAM_CMAP, extent=extent)
    signed = bool((m.values < 0).any())
    values = normalise(m.values, scale, signed=signed)[:, window]
    image = ax.imshow(values, origin="lower", aspect="auto", cmap=SIGNED_CMAP if signed else ATTRIBUTION_CMAP,
                      alpha=alpha, extent=extent, vmin=-1 if signed else 0, vmax=1)
    ticks = np.linspace(0, len(analysis.band_hz) - 1, 6).round().astype(int)
    ax.set_yticks(ticks, [f"{analysis.band_hz[i]:.0f}" for i in ticks])
    ax.set_ylabel("MFCC index" if analysis.cfg.kind == "mfcc" else "frequency (Hz, mel scale)")
    clip_xaxis(ax, analysis)
    ax.set_title(f"{method} for '{m.target_label}' ({m.seconds * 1000:.0f} ms)")
    fig.colorbar(image, ax=ax, label=("attribution, signed" if signed else "attribution") + " (normalised"
                 + (", shared scale)" if shared else ")"))
    return fig


def probabilities_figure(analysis: Analysis):
    """Class probabilities of the original and of every audio version, as grouped bars."""
    versions = {"original": analysis.probabilities} | {n: v.probabilities for n, v in analysis.audio.items()
                                                       if n != "original"}
    fig = Figure(figsize=(8, 3.6), dpi=110, layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(analysis.labels)
    x = np.arange(len(versions))
    for i, label in enumerate(analysis.labels):
        ax.bar(x + i * width, [p[i] for p in versions.values()], width, label=label, color=OKABE_ITO[i % len(OKABE_ITO)])
    ax.set_xticks(x + width * (len(analysis.labels) - 1) / 2, list(versions), rotation=30, ha="right")
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1)
    ax.set_title(f"predicted '{analysis.predicted_label}'; explained '{analysis.labels[analysis.target]}'")
    ax.legend(title="emotion", fontsize=8)
    return fig


def time_curves_figure(analysis: Analysis):
    """Each map summed over frequency (normalised to its peak over the whole model input), and the S3 focus
    gate, over the clip's own seconds (0 .. its duration; the padding of a short clip cropped)."""
    fig = Figure(figsize=(8, 3.2), dpi=110, layout="constrained")
    ax = fig.subplots()
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
    return fig


def title_page(title: str, lines: list[str]) -> Figure:
    """An A4 page: a title over monospaced lines of text."""
    fig = Figure(figsize=(8.27, 11.69), dpi=100)
    fig.text(0.08, 0.93, title, fontsize=18, weight="bold")
    fig.text(0.08, 0.90, "\n".join(lines), fontsize=9, va="top", family="monospace")
    return fig


def tsne_figure(dataset) -> Figure:
    """The t-SNE of the model embeddings, one colour per true emotion."""
    fig = Figure(figsize=(6, 5), dpi=110, layout="constrained")
    ax = fig.subplots()
    for i, label in enumerate(dataset.labels):
        points = dataset.tsne[np.asarray(dataset.true) == i]
        ax.scatter(points[:, 0], points[:, 1], s=14, color=OKABE_ITO[i % len(OKABE_ITO)], label=label)
    ax.set_xlabel("t-SNE 1 (arbitrary units)")
    ax.set_ylabel("t-SNE 2 (arbitrary units)")
    ax.set_title("model embedding, coloured by true emotion")
    ax.legend(title="emotion", fontsize=8)
    return fig


def profiles_figure(dataset, method: str) -> Figure:
    """One method's mean attribution per mel band, a line per emotion."""
    fig = Figure(figsize=(7, 3.6), dpi=110, layout="constrained")
    ax = fig.subplots()
    for i, label in enumerate(dataset.labels):
        profile = dataset.frequency_profiles[method].get(label)
        if profile is not None:
            ax.plot(dataset.band_hz, profile, color=OKABE_ITO[i % len(OKABE_ITO)], label=label)
    ax.set_xscale("log")
    ax.set_xlabel("frequency (Hz, mel band centre)")
    ax.set_ylabel("mean attribution per band")
    ax.set_title(f"{method}: frequency profile per emotion")
    ax.legend(title="emotion", fontsize=8)
    return fig


def eca_figure(profile) -> Figure:
    """One ECA tap's mean channel weights (± std) per emotion."""
    fig = Figure(figsize=(8, 3.4), dpi=110, layout="constrained")
    ax = fig.subplots()
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
    return fig


def confusion_figure(confusion, labels: Sequence[str], title: str = "") -> Figure:
    """A labelled confusion matrix (rows: true emotion, columns: predicted), counts written in the cells, on the
    colour-blind-safe cividis scale."""
    counts = np.asarray(confusion)
    labels = list(labels)
    fig = Figure(figsize=(1.2 + 0.9 * len(labels), 1.0 + 0.8 * len(labels)), dpi=110, layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(counts, cmap="cividis")
    fig.colorbar(image, ax=ax, label="clips")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted emotion")
    ax.set_ylabel("true emotion")
    if title:
        ax.set_title(title, fontsize=9)
    top = counts.max() if counts.size else 0
    for (i, j), n in np.ndenumerate(counts):  # cividis is dark at the bottom of its range: white text there
        ax.text(j, i, str(int(n)), ha="center", va="center", color="white" if n < top / 2 else "black")
    return fig
