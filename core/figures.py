"""Every matplotlib figure serwb writes: the overlays of ``serwb explain`` and of the Explain export, the report
pages, the Dataset export's figures, the confusion matrix of ``serwb evaluate`` and the plots of
``serwb reproduce``.

Built on ``matplotlib.figure.Figure`` (no pyplot state), so worker threads draw them side by side. Figures of one
clip are drawn on the clip's own timeline, 0 .. its duration, as the workbench draws them: a clip shorter than the
model's training length is padded before the model hears it, and the figures crop that padding
(``Analysis.on_clip``).

Every figure function takes ``into``: a ``SubFigure`` of a report page to draw in instead of a figure of its own, so
the PDF reports lay them out on A4 pages (``clip_page``, ``figure_pages``, ``table_pages``).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.table import Table as MplTable

from core.explain.colours import BLUE, GREY, OKABE_ITO, VERMILLION, WHITE
from core.explain.maps import normalise, rank_normalise

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


def method_title(method: str) -> str:
    """A method's display name ("Grad-CAM" for "gradcam"); the name itself for maps the registry does not know
    (a Grad-CAM branch such as "gradcam-block3")."""
    from core.errors import ConfigError
    from core.explain import registry

    try:
        return registry.method_spec(method).title
    except ConfigError:  # not a registered method: shown as it is
        return method


def band_yaxis(ax, analysis: Analysis) -> None:
    """Mel bands labelled by their centre frequency in Hz (six ticks), or MFCC indices."""
    ticks = np.linspace(0, len(analysis.band_hz) - 1, 6).round().astype(int)
    ax.set_yticks(ticks, [f"{analysis.band_hz[i]:.0f}" for i in ticks])
    ax.set_ylabel("MFCC index" if analysis.cfg.kind == "mfcc" else "frequency (Hz, mel scale)")


def envelope(x: np.ndarray, sr: int, max_points: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Times and values of a signal reduced to a min/max envelope, so a long clip stays a light vector path in
    the PDF and a light trace in the workbench's plotly figures."""
    step = max(1, len(x) // max_points)
    if step == 1:
        return np.arange(len(x)) / sr, x
    n = len(x) // step
    blocks = x[: n * step].reshape(n, step)
    return np.repeat(np.arange(n) * step / sr, 2), np.stack([blocks.min(axis=1), blocks.max(axis=1)], axis=1).ravel()


def clip_wave(analysis: Analysis) -> np.ndarray | None:
    """The clip's own samples of the waveform the model hears (``audio["original"]``, its padding cropped), or
    None for an analysis without audio versions."""
    original = analysis.audio.get("original")
    if original is None:
        return None
    wave = np.asarray(original.wave.detach().cpu().numpy() if hasattr(original.wave, "detach") else original.wave)
    start = int(round(analysis.clip_offset * analysis.sr))
    return wave.reshape(-1)[start:start + int(round(analysis.clip_seconds * analysis.sr))]


def waveform_figure(analysis: Analysis, into=None):
    """The clip's waveform (amplitude against its own seconds, 0 .. its duration)."""
    fig = into if into is not None else Figure(figsize=(8, 2.4), dpi=110, layout="constrained")
    draw_waveform(fig.subplots(), analysis)
    return fig


def draw_waveform(ax, analysis: Analysis) -> None:
    """``waveform_figure`` on an existing axes."""
    wave = clip_wave(analysis)
    if wave is None:
        ax.text(0.5, 0.5, "no waveform: this analysis kept no audio versions", ha="center", va="center",
                transform=ax.transAxes, color="#555555")
    else:
        ax.plot(*envelope(wave, analysis.sr), color=BLUE, linewidth=0.6)
        top = max(float(np.abs(wave).max()), 1e-3)
        ax.set_ylim(-1.05 * top, 1.05 * top)
    clip_xaxis(ax, analysis)
    ax.set_ylabel("amplitude")
    ax.set_title("waveform (what the model hears, padding cropped)")


def spectrogram_figure(analysis: Analysis, into=None):
    """The model's input, the log-mel spectrogram (or MFCCs), on the clip's seconds x Hz axes."""
    fig = into if into is not None else Figure(figsize=(8, 3.4), dpi=110, layout="constrained")
    draw_spectrogram(fig.subplots(), analysis)
    return fig


def draw_spectrogram(ax, analysis: Analysis) -> None:
    """``spectrogram_figure`` on an existing axes (its colour bar beside it)."""
    window, (left, right) = clip_extent(analysis, analysis.frame_times)
    image = ax.imshow(analysis.spectrogram[:, window], origin="lower", aspect="auto", cmap=ATTRIBUTION_CMAP,
                      extent=(left, right, -0.5, len(analysis.band_hz) - 0.5))
    band_yaxis(ax, analysis)
    clip_xaxis(ax, analysis)
    mfcc = analysis.cfg.kind == "mfcc"
    ax.set_title("MFCCs (model input)" if mfcc else "log-mel spectrogram (model input)")
    ax.get_figure(root=False).colorbar(image, ax=ax, label="MFCC value" if mfcc else "ln mel energy")


def prediction_figure(analysis: Analysis, into=None):
    """The model's class probabilities for the clip as horizontal bars: the prediction in blue, the explained
    class marked."""
    fig = into if into is not None else Figure(figsize=(8, 2.4), dpi=110, layout="constrained")
    ax = fig.subplots()
    probs = np.asarray(analysis.probabilities, dtype=float)
    y = np.arange(len(analysis.labels))[::-1]
    colours = [BLUE if i == analysis.predicted else GREY for i in range(len(probs))]
    ax.barh(y, probs, color=colours, height=0.7)
    for yi, p in zip(y, probs):
        ax.text(p + 0.01, yi, f"{p:.3f}", va="center", fontsize=9)
    names = [label + (" (explained)" if i == analysis.target and i != analysis.predicted else "")
             for i, label in enumerate(analysis.labels)]
    ax.set_yticks(y, names)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("probability")
    ax.set_title(f"prediction: '{analysis.predicted_label}' (p = {probs[analysis.predicted]:.3f})")
    return fig


def overlay_figure(analysis: Analysis, method: str, *, ranked: bool = False, alpha: float = 0.6, into=None):
    """The log-mel spectrogram with one method's map on top, on seconds x Hz axes.

    The map is scaled over the whole model input by its own largest |value|, or with ``ranked`` by each cell's rank
    within the map (``rank_normalise``: comparable across methods in different units), then drawn on the clip's own
    timeline (0 .. its duration; the padding of a short clip cropped), as in the workbench. The colour bar says
    which scale it is."""
    m = analysis.maps[method]
    window, (left, right) = clip_extent(analysis, m.frame_times)
    fig = into if into is not None else Figure(figsize=(8, 3.2), dpi=110, layout="constrained")
    ax = fig.subplots()
    extent = (left, right, -0.5, len(analysis.band_hz) - 0.5)
    ax.imshow(analysis.spectrogram[:, window], origin="lower", aspect="auto", cmap=SPECTROGRAM_CMAP, extent=extent)
    signed = bool((m.values < 0).any())
    scaled = rank_normalise(m.values, signed=signed) if ranked else normalise(m.values, signed=signed)
    image = ax.imshow(scaled[:, window], origin="lower", aspect="auto", cmap=SIGNED_CMAP if signed else ATTRIBUTION_CMAP,
                      alpha=alpha, extent=extent, vmin=-1 if signed else 0, vmax=1)
    band_yaxis(ax, analysis)
    clip_xaxis(ax, analysis)
    ax.set_title(f"{method_title(method)} for '{m.target_label}' ({m.seconds * 1000:.0f} ms)")
    peak = float(np.abs(m.values).max())
    fig.colorbar(image, ax=ax, label="rank within the map" + (", signed" if signed else "") if ranked
                 else f"attribution / its max |value| ({peak:.3g})")
    return fig


def probabilities_figure(analysis: Analysis, into=None):
    """Class probabilities of the original and of every audio version, as grouped bars."""
    versions = {"original": analysis.probabilities} | {n: v.probabilities for n, v in analysis.audio.items()
                                                       if n != "original"}
    fig = into if into is not None else Figure(figsize=(8, 3.6), dpi=110, layout="constrained")
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


def time_curves_figure(analysis: Analysis, into=None):
    """Each map summed over frequency (normalised to its peak over the whole model input), and the S3 focus
    gate, over the clip's own seconds (0 .. its duration; the padding of a short clip cropped)."""
    fig = into if into is not None else Figure(figsize=(8, 3.2), dpi=110, layout="constrained")
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
    ax.set_title("attribution over time (each map summed over frequency)")
    ax.legend(fontsize=8, loc="upper right")
    return fig


def tsne_figure(dataset, into=None) -> Figure:
    """The t-SNE of the model embeddings, one colour per true emotion."""
    fig = into if into is not None else Figure(figsize=(6, 5), dpi=110, layout="constrained")
    ax = fig.subplots()
    for i, label in enumerate(dataset.labels):
        points = dataset.tsne[np.asarray(dataset.true) == i]
        ax.scatter(points[:, 0], points[:, 1], s=14, color=OKABE_ITO[i % len(OKABE_ITO)], label=label)
    ax.set_xlabel("t-SNE 1 (arbitrary units)")
    ax.set_ylabel("t-SNE 2 (arbitrary units)")
    ax.set_title("model embedding, coloured by true emotion")
    ax.legend(title="emotion", fontsize=8)
    return fig


def profiles_figure(dataset, method: str, into=None) -> Figure:
    """One method's mean attribution per mel band, a line per emotion."""
    fig = into if into is not None else Figure(figsize=(7, 3.6), dpi=110, layout="constrained")
    ax = fig.subplots()
    for i, label in enumerate(dataset.labels):
        profile = dataset.frequency_profiles[method].get(label)
        if profile is not None:
            ax.plot(dataset.band_hz, profile, color=OKABE_ITO[i % len(OKABE_ITO)], label=label)
    ax.set_xscale("log")
    ax.set_xlabel("frequency (Hz, mel band centre)")
    ax.set_ylabel("mean attribution per band")
    ax.set_title(f"{method_title(method)}: frequency profile per emotion")
    ax.legend(title="emotion", fontsize=8)
    return fig


def eca_figure(profile, into=None) -> Figure:
    """One ECA tap's mean channel weights (± std) per emotion."""
    fig = into if into is not None else Figure(figsize=(8, 3.4), dpi=110, layout="constrained")
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


def sweep_figure(title: str, settings: Sequence[str], ua: np.ndarray, sd: np.ndarray,
                 paper: dict[str, list[tuple[int, float]]], into=None) -> Figure:
    """One sweep of ``serwb reproduce``: our UA % (mean ± sd) per setting, and the paper's UA % on its corpora
    (``paper``: corpus -> [(setting index, UA %)]) beside it."""
    fig = into if into is not None else Figure(figsize=(max(5.0, 0.9 * len(settings) + 2), 3.6), dpi=110,
                                               layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(settings))
    ax.errorbar(x, ua, yerr=sd, marker="o", capsize=3, color=OKABE_ITO[0], label="ours (UA, mean ± sd)")
    for i, (corpus, points) in enumerate(paper.items()):
        ax.scatter([j for j, _ in points], [v for _, v in points], marker="s", zorder=3,
                   color=OKABE_ITO[(i + 1) % len(OKABE_ITO)], label=f"paper, {corpus} (UA)")
    crowded = len(settings) > 4
    ax.set_xticks(x, list(settings), rotation=30 if crowded else 0, ha="right" if crowded else "center", fontsize=8)
    ax.set_ylabel("UA (%)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


def segments_kept_figure(title: str, kept: np.ndarray, total: np.ndarray, into=None) -> Figure:
    """Gaussian data selection (S3): a histogram of the share of each file's segments kept."""
    fig = into if into is not None else Figure(figsize=(6, 3.4), dpi=110, layout="constrained")
    ax = fig.subplots()
    ax.hist(kept / np.maximum(total, 1), bins=np.linspace(0, 1, 11), color=OKABE_ITO[0], edgecolor="white")
    ax.set_xlabel("share of the file's segments kept")
    ax.set_ylabel("files")
    ax.set_title(f"{title}: kept {int(kept.sum())} of {int(total.sum())} segments", fontsize=10)
    return fig


def confusion_figure(confusion, labels: Sequence[str], title: str = "", into=None) -> Figure:
    """A labelled confusion matrix (rows: true emotion, columns: predicted), counts written in the cells, on the
    colour-blind-safe cividis scale."""
    counts = np.asarray(confusion)
    labels = list(labels)
    fig = into if into is not None else Figure(figsize=(1.2 + 0.9 * len(labels), 1.0 + 0.8 * len(labels)), dpi=110,
                                               layout="constrained")
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


# ------------------------------------------------------------------------------ A4 report pages

A4 = (8.27, 11.69)  # inches, portrait
MARGIN = 0.7  # inches on every side of a table page
TABLE_FONT = "DejaVu Sans Mono"  # monospaced: a column's width follows from its characters
TABLE_SIZE = 8.0  # points
_CHAR_IN = 0.64 / 72  # a DejaVu Sans Mono character is 0.602 em wide; raster hinting rounds it up


def a4_figure(*, constrained: bool = False, pad: float = 0.12) -> Figure:
    """An empty A4 portrait page (no pyplot); ``constrained``: its subfigures laid out by constrained layout
    inside the page's margins, ``pad`` inches between them."""
    if not constrained:
        return Figure(figsize=A4, dpi=100)
    rect = (0.6 / A4[0], 0.55 / A4[1], 1 - 1.2 / A4[0], 1 - 1.1 / A4[1])  # left, bottom, width, height
    return Figure(figsize=A4, dpi=100, layout=ConstrainedLayoutEngine(rect=rect, h_pad=pad, w_pad=pad))


def clip_page(analysis: Analysis, title: str, lines: Sequence[str]) -> Figure:
    """Page 1 of a clip's report: title and key facts, then the prediction, the waveform and the spectrogram,
    each on the clip's own timeline."""
    fig = a4_figure(constrained=True)
    bars = 0.9 + 0.3 * len(analysis.labels)
    head, prediction, signal = fig.subfigures(3, 1, height_ratios=[0.35 + 0.2 * len(lines), bars, 6.2])
    head.text(0.0, 1.0, title, fontsize=15, weight="bold", va="top")
    head.text(0.0, 0.98 - 0.42 / (0.35 + 0.2 * len(lines)), "\n".join(lines), fontsize=9, va="top", linespacing=1.5)
    prediction_figure(analysis, into=prediction)
    wave, spectrogram = signal.subplots(2, 1, height_ratios=[2.0, 3.6])  # one column: the time axes line up
    draw_waveform(wave, analysis)
    draw_spectrogram(spectrogram, analysis)
    return fig


def figure_pages(draws: Sequence[Callable], *, per_page: int = 2) -> list[Figure]:
    """A4 pages holding the figures drawn by ``draws`` (each called with a ``SubFigure`` as ``into``),
    ``per_page`` to a page at full width."""
    pages = []
    for start in range(0, len(draws), per_page):
        fig = a4_figure(constrained=True, pad=0.2)
        for draw, sub in zip(draws[start:start + per_page], np.atleast_1d(fig.subfigures(per_page, 1))):
            draw(into=sub)
        pages.append(fig)
    return pages


@dataclass
class Table:
    """One table of a report: a heading, column names and rows of text; ``wrap`` caps a column's width
    (characters; longer cells wrap onto more lines); ``note``: a sentence under the heading."""

    heading: str
    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    wrap: dict[int, int] = field(default_factory=dict)
    note: str = ""


def _wrapped(table: Table) -> list[list[str]]:
    """Header and rows as cell texts, each wrapped to its column's cap."""
    cells = [list(map(str, table.columns))] + [list(map(str, row)) for row in table.rows]
    for c, width in table.wrap.items():
        for row in cells:
            row[c] = "\n".join(textwrap.wrap(row[c], width) or [""])
    return cells


def _numeric(text: str) -> bool:
    try:
        float(text.replace("%", "").replace("s", "").strip())
        return True
    except ValueError:
        return False


def _draw_table(fig: Figure, cells: list[list[str]], top: float, size: float) -> float:
    """Draw ``cells`` (header first) at ``top`` inches from the page's top, numeric columns right-aligned;
    returns the height used (inches)."""
    pad, line = 0.06, size * 1.25 / 72
    chars = [max(len(s) for row in cells for s in row[c].split("\n")) for c in range(len(cells[0]))]
    widths = [n * _CHAR_IN * size + 2 * pad for n in chars]
    heights = [max(r.count("\n") for r in row) * line + line + 2 * pad for row in cells]
    w, h = sum(widths), sum(heights)
    ax = fig.add_axes((MARGIN / A4[0], 1 - (top + h) / A4[1], w / A4[0], h / A4[1]))
    ax.axis("off")
    table = MplTable(ax, bbox=(0, 0, 1, 1))
    right = [len(cells) > 1 and all(_numeric(row[c]) for row in cells[1:]) for c in range(len(chars))]
    for r, row in enumerate(cells):
        for c, text in enumerate(row):
            cell = table.add_cell(r, c, widths[c] / w, heights[r] / h, text=text, loc="right" if right[c] else "left",
                                  edgecolor="#BBBBBB", facecolor="#E8E8E8" if r == 0 else "white")
            cell.PAD = pad / widths[c]
            cell.set_linewidth(0.5)
            cell.get_text().set(fontfamily=TABLE_FONT, fontsize=size, weight="bold" if r == 0 else "normal")
    table.auto_set_font_size(False)
    table.set_fontsize(size)
    ax.add_table(table)
    return h


def _fit_size(cells: list[list[str]]) -> float:
    """The table font size (at most ``TABLE_SIZE``, at least 6 pt) at which ``cells`` fit the page's width."""
    chars = sum(max(len(s) for row in cells for s in row[c].split("\n")) for c in range(len(cells[0])))
    room = A4[0] - 2 * MARGIN - 0.12 * len(cells[0])
    return max(6.0, min(TABLE_SIZE, room / (chars * _CHAR_IN)))


class _Pages:
    """A top-to-bottom flow of text and tables over as many A4 pages as it takes."""

    def __init__(self, title: str, lines: Sequence[str]):
        self.pages: list[Figure] = []
        self.top = 0.0
        self._new()
        self.text(title, size=15, weight="bold", gap=0.1)
        for line in lines:
            self.text(line, size=9, gap=0.0, wrap=100)
        self.top += 0.1

    def _new(self) -> None:
        self.pages.append(a4_figure())
        self.top = MARGIN

    def room(self) -> float:
        return A4[1] - MARGIN - self.top

    def text(self, text: str, *, size: float = 9, weight: str = "normal", gap: float = 0.05, wrap: int = 0,
             family: str | None = None) -> None:
        """A line (wrapped to ``wrap`` characters when given) at the current place."""
        lines = textwrap.wrap(text, wrap) if wrap else [text]
        height = len(lines) * size * 1.35 / 72
        if height > self.room():
            self._new()
        self.pages[-1].text(MARGIN / A4[0], 1 - self.top / A4[1], "\n".join(lines), fontsize=size, weight=weight,
                            va="top", linespacing=1.35, family=family)
        self.top += height + gap

    def table(self, table: Table) -> None:
        """A heading and a table; rows that do not fit go on to the next page under the same heading."""
        cells = _wrapped(table)
        size = _fit_size(cells)
        header, rows = cells[0], cells[1:] or [["" for _ in cells[0]]]
        row_h = [(max(r.count("\n") for r in row) + 1) * size * 1.25 / 72 + 0.12 for row in [header, *rows]]
        heading = table.heading
        if self.room() < 0.6 + row_h[0] + sum(row_h[1:3]):  # the heading with at least its first rows
            self._new()
        while rows:
            if heading:
                self.text(heading, size=11, weight="bold", gap=0.04)
            if table.note and heading == table.heading:
                self.text(table.note, size=8, gap=0.04, wrap=115)
            fit, used = 0, row_h[0]
            while fit < len(rows) and used + row_h[1 + fit] <= self.room():
                used += row_h[1 + fit]
                fit += 1
            fit = max(fit, 1)
            self.top += _draw_table(self.pages[-1], [header, *rows[:fit]], self.top, size) + 0.25
            rows, row_h = rows[fit:], [row_h[0], *row_h[1 + fit:]]
            heading = f"{table.heading or 'table'} (continued)"
            if rows:
                self._new()


def table_pages(title: str, lines: Sequence[str], tables: Sequence[Table | str]) -> list[Figure]:
    """A4 pages: a title and lines of text, then each table (or a paragraph, for a string) in turn, on as many
    pages as they need, every text inside the page's margins."""
    flow = _Pages(title, lines)
    for item in tables:
        if isinstance(item, Table):
            flow.table(item)
        else:
            flow.text(item, size=9, wrap=100, gap=0.15)
    return flow.pages
