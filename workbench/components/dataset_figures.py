"""Figures for the Dataset and ECA pages: confusion matrix, t-SNE, frequency profiles, ECA channel weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.components.colours import SEQUENTIAL, by_label


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


#: Suffix of the extra confusion rows for labels the model has no class for (shown, not scored).
NOT_SCORED = " (not scored)"


def confusion(matrix: np.ndarray, labels, *, unknown: dict[str, np.ndarray] | None = None,
              height: int = 420) -> go.Figure:
    """Counts with true emotions as rows; a click on a cell (its marker) selects that cell's clips.

    ``unknown`` (label -> predicted counts ``(C,)``) adds one grey row per label the model does not
    know, named "<label> (not scored)": where those clips went, kept apart from the scored matrix.
    """
    counts = np.asarray(matrix)
    labels = list(labels)
    extra = {f"{label}{NOT_SCORED}": np.asarray(row) for label, row in (unknown or {}).items()}
    rows = labels + list(extra)
    fig = go.Figure()
    fig.add_heatmap(z=counts, x=labels, y=labels, colorscale=SEQUENTIAL, colorbar=dict(title=dict(text="clips")),
                    hovertemplate="true %{y}<br>predicted %{x}<br>%{z} clips<extra></extra>")
    if extra:
        fig.add_heatmap(z=np.stack(list(extra.values())), x=labels, y=list(extra), colorscale="Greys", showscale=False,
                        name="not scored",
                        hovertemplate="%{y}<br>predicted %{x}<br>%{z} clips: the model has no such class"
                                      "<extra></extra>")
    xs, ys = np.meshgrid(labels, labels)
    text_colour = np.where(counts > counts.max() / 2, "black", "white").ravel()
    fig.add_scatter(x=xs.ravel(), y=ys.ravel(), mode="markers+text", text=counts.ravel().astype(str),
                    textfont=dict(color=list(text_colour), size=14), marker=dict(size=38, opacity=0.01, color="white"),
                    name="click a cell", showlegend=False,
                    hovertemplate="true %{y}<br>predicted %{x}<br>%{text} clips: click to list<extra></extra>")
    if extra:
        grid = np.stack(list(extra.values()))
        ex, ey = np.meshgrid(labels, list(extra))
        colour = np.where(grid > grid.max() / 2, "white", "black").ravel()
        fig.add_scatter(x=ex.ravel(), y=ey.ravel(), mode="markers+text", text=grid.ravel().astype(str),
                        textfont=dict(color=list(colour), size=14), marker=dict(size=38, opacity=0.01, color="white"),
                        name="click a cell (not scored)", showlegend=False,
                        hovertemplate="%{y}<br>predicted %{x}<br>%{text} clips: click to list<extra></extra>")
    fig.update_xaxes(title_text="predicted emotion", type="category")
    fig.update_yaxes(title_text="true emotion", type="category", autorange="reversed",
                     categoryorder="array", categoryarray=rows)
    fig.update_layout(height=height + 40 * len(extra), margin=dict(l=60, r=20, t=10, b=40),
                      clickmode="event+select")
    return fig


def tsne(points: np.ndarray, true: np.ndarray, predicted: np.ndarray, labels, paths, *, height: int = 460) -> go.Figure:
    """The model embedding in 2-D (t-SNE), coloured by true emotion; crosses mark misclassified clips."""
    colours = by_label(labels)
    names = np.array([Path(p).name for p in paths])
    fig = go.Figure()
    for i, label in enumerate(labels):
        for correct in (True, False):
            pick = (true == i) & ((predicted == true) == correct)
            if not pick.any():
                continue
            fig.add_scatter(
                x=points[pick, 0], y=points[pick, 1], mode="markers",
                name=label if correct else f"{label} (misclassified)", legendgroup=label,
                marker=dict(color=colours[label], size=8 if correct else 10, symbol="circle" if correct else "x",
                            line=dict(width=0.5, color="black")),
                customdata=np.stack([names[pick], np.array(labels)[predicted[pick]]], axis=1),
                hovertemplate="%{customdata[0]}<br>predicted %{customdata[1]}<extra>" + label + "</extra>",
            )
    unknown = true < 0
    if unknown.any():
        fig.add_scatter(x=points[unknown, 0], y=points[unknown, 1], mode="markers", name="label unknown to the model",
                        marker=dict(color="#999999", size=7))
    fig.update_xaxes(title_text="t-SNE 1 (arbitrary units)")
    fig.update_yaxes(title_text="t-SNE 2 (arbitrary units)")
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=10, b=40), legend=dict(title=dict(text="true emotion")))
    return fig


def frequency_profiles(profiles: dict[str, dict[str, np.ndarray]], band_hz: np.ndarray, labels,
                       *, mfcc: bool = False, height: int = 360) -> go.Figure:
    """Per method, the mean attribution per mel band for each emotion (S3's frequency-activation profile)."""
    methods = list(profiles)
    colours = by_label(labels)
    fig = make_subplots(rows=1, cols=len(methods), subplot_titles=methods, shared_yaxes=False)
    for col, method in enumerate(methods, start=1):
        for label in labels:
            if label in profiles[method]:
                fig.add_scatter(x=band_hz, y=profiles[method][label], mode="lines", name=label, legendgroup=label,
                                showlegend=col == 1, line=dict(color=colours[label]), row=1, col=col)
        fig.update_xaxes(title_text="MFCC index" if mfcc else "frequency (Hz, mel band centre)",
                         type="linear" if mfcc else "log", row=1, col=col)
        fig.update_yaxes(title_text="mean attribution per band", row=1, col=col)
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=40, b=40), legend=dict(title=dict(text="emotion")))
    return fig


def _tap_title(tap: str) -> str:
    """``blocks.4.eca`` -> "ECA after conv block 5 (blocks.4.eca)" (S0 counts blocks from 1)."""
    parts = tap.split(".")
    if len(parts) == 3 and parts[1].isdigit():
        return f"ECA after conv block {int(parts[1]) + 1} ({tap})"
    return f"ECA {tap}"


def eca(profiles: dict, current: dict[str, np.ndarray] | None = None, *, spread: bool = True,
        height_per_block: int = 300) -> go.Figure:
    """S0's figure: per ECA block, each emotion's mean channel weight as a line (± std band), and the
    current clip's gates overlaid in black."""
    taps = list(profiles)
    fig = make_subplots(rows=len(taps), cols=1, subplot_titles=[_tap_title(t) for t in taps],
                        vertical_spacing=0.22 if len(taps) > 1 else 0.1)
    for row, tap in enumerate(taps, start=1):
        p = profiles[tap]
        colours = by_label(p.labels)
        channels = np.arange(p.mean.shape[1])
        for i, label in enumerate(p.labels):
            if p.count[i] == 0:
                continue
            if spread:
                fig.add_scatter(x=np.concatenate([channels, channels[::-1]]),
                                y=np.concatenate([p.mean[i] + p.std[i], (p.mean[i] - p.std[i])[::-1]]),
                                fill="toself", fillcolor=_rgba(colours[label], 0.15), line=dict(width=0),
                                hoverinfo="skip", legendgroup=label, showlegend=False, row=row, col=1)
            fig.add_scatter(x=channels, y=p.mean[i], mode="lines", name=f"{label} (n={p.count[i]})",
                            legendgroup=label, showlegend=row == 1, line=dict(color=colours[label], width=1.5),
                            row=row, col=1)
        if current is not None and tap in current:
            fig.add_scatter(x=channels, y=np.asarray(current[tap]).ravel(), mode="lines+markers",
                            name="current clip", legendgroup="current", showlegend=row == 1,
                            line=dict(color="black", width=1, dash="dot"), marker=dict(size=3), row=row, col=1)
        fig.update_xaxes(title_text="channel", row=row, col=1)
        fig.update_yaxes(title_text="ECA weight (0–1)", row=row, col=1)
    fig.update_layout(height=height_per_block * len(taps) + 60, margin=dict(l=60, r=20, t=40, b=40),
                      legend=dict(title=dict(text="emotion (mean ± std)")))
    return fig
