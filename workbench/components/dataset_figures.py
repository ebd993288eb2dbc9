"""Figures for the Dataset and ECA pages: confusion matrix, t-SNE, frequency profiles, ECA channel weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.components.colours import DIVERGING, SEQUENTIAL, by_label


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


#: Tick marks of a frequency axis on a log scale (Hz), labelled without minor ticks in between.
FREQ_TICKS = (50, 100, 200, 500, 1000, 2000, 5000, 10000)


def _hz(value: float) -> str:
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


def log_frequency_axis(fig: go.Figure, band_hz: np.ndarray, **where) -> None:
    """A log-scale Hz axis spanning the bands, ticked at 50, 100, 200, 500, 1k, 2k, 5k (no minor labels)."""
    low, high = float(np.min(band_hz)), float(np.max(band_hz))
    ticks = [t for t in FREQ_TICKS if low * 0.9 <= t <= high * 1.1]
    fig.update_xaxes(type="log", range=[np.log10(low * 0.95), np.log10(high * 1.05)], tickmode="array",
                     tickvals=ticks, ticktext=[_hz(t) for t in ticks], minor=dict(ticks="", showgrid=False),
                     **where)


def frequency_profiles(profiles: dict[str, dict[str, np.ndarray]], band_hz: np.ndarray, labels,
                       *, mfcc: bool = False, height: int = 380) -> go.Figure:
    """Per method, the mean attribution per mel band for each (true) emotion (S3's frequency-activation
    profile): each clip's map summed over its frames, averaged over the emotion's clips."""
    methods = list(profiles)
    colours = by_label(labels)
    fig = make_subplots(rows=1, cols=len(methods), subplot_titles=methods, shared_yaxes=False,
                        horizontal_spacing=0.08)
    for col, method in enumerate(methods, start=1):
        for label in labels:
            if label in profiles[method]:
                fig.add_scatter(x=band_hz if not mfcc else np.arange(len(band_hz)), y=profiles[method][label],
                                mode="lines", name=label, legendgroup=label, showlegend=col == 1,
                                line=dict(color=colours[label]), row=1, col=col,
                                hovertemplate=("MFCC %{x}" if mfcc else "%{x:.0f} Hz")
                                + "<br>%{y:.3g}<extra>" + label + "</extra>")
        if mfcc:
            fig.update_xaxes(title_text="MFCC coefficient (index)", type="linear", row=1, col=col)
        else:
            fig.update_xaxes(title_text="frequency (Hz, mel band centre, log scale)", row=1, col=col)
            log_frequency_axis(fig, band_hz, row=1, col=col)
        fig.update_yaxes(title_text="mean attribution per band (a.u., summed over frames)" if col == 1 else None,
                         row=1, col=col)
    fig.update_layout(height=height, margin=dict(l=70, r=20, t=40, b=50),
                      legend=dict(title=dict(text="true emotion")))
    return fig


def block_title(tap: str) -> str:
    """``blocks.4.eca`` -> "Conv block 5" (S0 counts its conv blocks from 1); other taps as they are."""
    parts = tap.split(".")
    if len(parts) == 3 and parts[0] == "blocks" and parts[1].isdigit():
        return f"Conv block {int(parts[1]) + 1}"
    return tap


#: What the ECA heatmaps can colour by: (colour-bar title, description).
ECA_SHOWS = {
    "mean": "mean weight",
    "difference": "difference from the emotions' average",
    "spread": "spread within the emotion (std)",
}


def channel_order(profile) -> np.ndarray:
    """Channels by between-emotion spread, largest first; in index order when fewer than two emotions
    have clips (then nothing differs to sort by)."""
    ranked = profile.separating_channels(None)
    return ranked if len(ranked) else np.arange(profile.mean.shape[1])


def _eca_values(profile, show: str, current: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    present = profile.present
    mean = profile.mean[present]
    if show == "spread":
        return profile.std[present], None
    if show == "difference":
        average = mean.mean(axis=0)
        return mean - average, (None if current is None else current - average)
    return mean, current


def eca(profiles: dict, current: dict[str, np.ndarray] | None = None, *, show: str = "mean",
        row_height: int = 30) -> dict[str, go.Figure]:
    """S0's figure as one heatmap per ECA block: emotions (with clips) as rows, channels as columns sorted
    by how much their mean weight differs between emotions (largest left), each block on its own colour
    scale. ``show``: the mean gate ("mean"), its difference from the emotions' average ("difference",
    diverging), or the within-emotion standard deviation ("spread"). ``current`` (tap -> gates) adds the
    current clip as a panel under the emotions, on the same scale (not for "spread")."""
    if show not in ECA_SHOWS:
        raise ValueError(f"show must be one of {', '.join(ECA_SHOWS)}")
    bar = {"mean": "mean ECA weight (0–1)", "difference": "mean weight − emotions' average",
           "spread": "std of the weight within the emotion"}[show]
    figures = {}
    for tap, p in profiles.items():
        gates = None if current is None or tap not in current else np.asarray(current[tap], float).ravel()
        z, row = _eca_values(p, show, gates)
        both = np.concatenate([np.ravel(z), [] if row is None else np.ravel(row)])
        if show == "difference":
            top = float(np.abs(both).max()) or 1e-6
            zmin, zmax, colours = -top, top, DIVERGING
        else:
            zmin, zmax, colours = float(both.min()), float(both.max()), SEQUENTIAL
            zmax = max(zmax, zmin + 1e-6)
        order = channel_order(p)
        sorted_by_spread = p.between_emotion_spread() is not None
        labels = [label for label, n in zip(p.labels, p.count) if n > 0]
        counts = [int(n) for n in p.count if n > 0]
        x = [str(int(c)) for c in order]
        present = p.present
        detail = np.stack([p.mean[present][:, order], p.std[present][:, order],
                           np.broadcast_to(np.asarray(counts, float)[:, None], (len(labels), len(order)))], axis=-1)
        panels = 2 if row is not None else 1
        fig = make_subplots(rows=panels, cols=1, shared_xaxes=True, row_heights=[len(labels), 1][:panels],
                            vertical_spacing=0.04 if panels == 2 else 0.0)
        fig.add_heatmap(z=z[:, order], x=x, y=labels, zmin=zmin, zmax=zmax, colorscale=colours, name=tap,
                        customdata=detail, xgap=1, ygap=1,
                        colorbar=dict(title=dict(text=bar, side="top"), orientation="h", thickness=10, len=0.32,
                                      x=1.0, xanchor="right", y=1.0, yanchor="bottom"),
                        hovertemplate="channel %{x} · %{y} (n=%{customdata[2]:.0f})<br>mean weight "
                                      "%{customdata[0]:.3f} ± %{customdata[1]:.3f} (std)<extra></extra>",
                        row=1, col=1)
        fig.update_yaxes(title_text="emotion", autorange="reversed", tickmode="array", tickvals=labels,
                         ticktext=[f"{label} (n={n})" for label, n in zip(labels, counts)], row=1, col=1)
        if row is not None:
            fig.add_heatmap(z=row[order][None], x=x, y=["current clip"], zmin=zmin, zmax=zmax, colorscale=colours,
                            showscale=False, name="current clip", customdata=gates[order][None], xgap=1,
                            hovertemplate="channel %{x} · current clip<br>weight %{customdata:.3f}<extra></extra>",
                            row=2, col=1)
            fig.update_yaxes(tickmode="array", tickvals=["current clip"], ticktext=["<b>current clip</b>"],
                             row=2, col=1)
        for r in range(1, panels + 1):
            fig.update_xaxes(type="category", tickmode="array", tickvals=x, ticktext=x, tickangle=-90,
                             tickfont=dict(size=8), showticklabels=r == panels, row=r, col=1)
        fig.update_xaxes(title_text="channel, sorted by between-emotion spread (largest first)" if sorted_by_spread
                         else "channel (in index order: one emotion only, nothing to sort by)", row=panels, col=1)
        fig.update_layout(height=130 + row_height * (len(labels) + panels - 1), margin=dict(l=110, r=20, t=64, b=70),
                          title=dict(text=f"{block_title(tap)}: ECA weights of its {len(order)} channels",
                                     font=dict(size=14), x=0, xanchor="left"))
        figures[tap] = fig
    return figures


def eca_top_channels(profile, k: int = 8, *, height: int = 320) -> go.Figure:
    """The ``k`` channels whose mean weight differs most between emotions, each emotion's mean ± std as a
    dot with whiskers: a difference is real where the dots sit apart by more than their whiskers."""
    ranked = profile.separating_channels(k)
    colours = by_label(profile.labels)
    present = [i for i, n in enumerate(profile.count) if n > 0]
    width = 0.6
    offsets = np.linspace(-width / 2, width / 2, len(present)) if len(present) > 1 else np.zeros(1)
    fig = go.Figure()
    for offset, i in zip(offsets, present):
        label = profile.labels[i]
        fig.add_scatter(x=np.arange(len(ranked)) + offset, y=profile.mean[i, ranked], mode="markers",
                        name=f"{label} (n={int(profile.count[i])})", marker=dict(color=colours[label], size=8),
                        error_y=dict(type="data", array=profile.std[i, ranked], thickness=1.2, width=3),
                        customdata=np.stack([ranked, profile.std[i, ranked]], axis=1),
                        hovertemplate="channel %{customdata[0]} · " + label
                        + "<br>mean %{y:.3f} ± %{customdata[1]:.3f} (std)<extra></extra>")
    fig.update_xaxes(title_text="channel (rank 1 = largest between-emotion spread)", tickmode="array",
                     tickvals=list(range(len(ranked))), ticktext=[f"ch {int(c)}" for c in ranked],
                     range=[-0.6, len(ranked) - 0.4])
    fig.update_yaxes(title_text="ECA weight (sigmoid gate, 0–1)")
    fig.update_layout(height=height, margin=dict(l=70, r=20, t=10, b=50),
                      legend=dict(title=dict(text="emotion: mean ± std")))
    return fig
