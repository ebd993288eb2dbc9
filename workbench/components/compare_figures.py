"""Figures for the Compare page: method agreement, deletion / insertion curves, the randomisation
check, and the fusion model's two branches on one timeline."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.explain import Analysis, normalise, shared_scale
from workbench.components.colours import DIVERGING, GREY, OKABE_ITO, SEQUENTIAL, VERMILLION
from workbench.components.figures import _band_axis, clip_axis, on_clip


def method_colours(names) -> dict[str, str]:
    return {name: OKABE_ITO[i % len(OKABE_ITO)] for i, name in enumerate(names)}


def agreement(pairs: dict[tuple[str, str], dict[str, float]], methods: list[str], fraction: float,
              *, height: int = 400) -> go.Figure:
    """Spearman rank correlation and top-k% IoU for every pair of methods, as two annotated matrices, each
    with its colour bar under it (so neither bar can cover the other matrix's labels)."""
    n = len(methods)
    rho, iou = np.eye(n), np.eye(n)
    for (a, b), scores in pairs.items():
        i, j = methods.index(a), methods.index(b)
        rho[i, j] = rho[j, i] = scores["rank_correlation"]
        iou[i, j] = iou[j, i] = scores["top_iou"]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, shared_yaxes=True,
                        subplot_titles=("Spearman rank correlation ρ", f"IoU of the top {fraction:.0%} cells"))
    for col, (z, zmin, colours, title, axis) in enumerate(
            ((rho, -1, DIVERGING, "Spearman ρ (−1 to 1)", "xaxis"), (iou, 0, SEQUENTIAL, "IoU (0 to 1)", "xaxis2")),
            start=1):
        low, high = fig.layout[axis].domain
        fig.add_heatmap(z=z, x=methods, y=methods, zmin=zmin, zmax=1, colorscale=colours, text=np.round(z, 2),
                        texttemplate="%{text}", hovertemplate="%{y} vs %{x}: %{z:.3f}<extra></extra>",
                        colorbar=dict(title=dict(text=title, side="bottom"), orientation="h", thickness=10,
                                      x=(low + high) / 2, xanchor="center", len=(high - low) * 0.9, lenmode="fraction",
                                      y=-0.28, yanchor="top"),
                        row=1, col=col)
    fig.update_xaxes(title_text="method")
    fig.update_yaxes(title_text="method", autorange="reversed", row=1, col=1)
    fig.update_yaxes(autorange="reversed", row=1, col=2)
    fig.update_layout(height=height, margin=dict(l=90, r=20, t=40, b=110))
    return fig


def faithfulness(curves: dict[str, dict], unit: str, *, height: int = 360) -> go.Figure:
    """Deletion and insertion curves (target probability as the most important units go / come), AUC in the legend."""
    colours = method_colours([m for m in curves if m != "random"])
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Deletion (lower AUC = more faithful)",
                                                        "Insertion (higher AUC = more faithful)"))
    for col, mode in ((1, "deletion"), (2, "insertion")):
        for name, per_mode in curves.items():
            c = per_mode[mode]
            random = name == "random"
            fig.add_scatter(x=c.fractions * 100, y=c.scores, mode="lines+markers", marker=dict(size=4),
                            name=f"{name} {mode} (AUC {c.auc:.3f})", legendgroup=name,
                            line=dict(color=GREY if random else colours[name], dash="dash" if random else "solid"),
                            row=1, col=col)
        verb = "removed" if mode == "deletion" else "inserted"
        fig.update_xaxes(title_text=f"share of {unit} {verb} (%)", row=1, col=col)
    fig.update_yaxes(title_text="target probability", range=[0, 1.02])
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=40, b=40), legend=dict(orientation="h", y=-0.25))
    return fig


#: Long words of layer names, shortened for tick labels (the full name is in the hover).
_SHORT = {"_branch": "", "pointwise_conv": "pw", "depthwise_conv": "dw", "features.": ""}


def short_layer(name: str, limit: int = 24) -> str:
    """A layer name short enough for a tick label: ``yamnet_branch.layer12.pointwise_conv.bn`` ->
    ``yamnet.layer12.pw.bn``; anything still longer than ``limit`` keeps its end."""
    for long, short in _SHORT.items():
        name = name.replace(long, short)
    return name if len(name) <= limit else "…" + name[-(limit - 1):]


def sanity(steps, method: str, *, height: int = 340) -> go.Figure:
    """Rank correlation with the original map as layers are re-initialised from the top down; every
    layer named on the x axis (shortened, rotated; the full name on hover)."""
    layers = [s.layer for s in steps]
    fig = go.Figure(go.Scatter(x=layers, y=[s.rank_correlation for s in steps], mode="lines+markers",
                               line=dict(color=VERMILLION), name=f"{method} vs original (Spearman ρ)",
                               hovertemplate="randomised down to %{x}<br>ρ = %{y:.3f}<extra></extra>"))
    fig.add_hline(y=0, line=dict(color=GREY, dash="dot"))
    short = [short_layer(name) for name in layers]
    longest = max((len(t) for t in short), default=0)
    many = len(layers) > 24
    fig.update_xaxes(title_text="layers randomised, from the output down (each point: this layer and all above it)",
                     type="category", tickmode="array", tickvals=layers, ticktext=short,
                     tickangle=-90 if many else -45, tickfont=dict(size=10 if many else 11), automargin=True)
    fig.update_yaxes(title_text="Spearman ρ with the original map", range=[-1.05, 1.05])
    bottom = 40 + int(longest * (6.0 if many else 4.6))  # rotated labels: room for the longest
    fig.update_layout(height=height + bottom - 60, margin=dict(l=70, r=20, t=30, b=bottom), showlegend=True,
                      legend=dict(orientation="h", y=1.0, yanchor="bottom", x=0))
    return fig


def branches(analysis: Analysis, names: list[str], *, height: int = 780) -> go.Figure:
    """The fusion model's per-branch Grad-CAM maps (one shared scale: both are gradients of one logit)
    and their time curves on one timeline, the clip's own (the padding of a short clip cropped); every
    panel carries its own time ticks, the colour bar spans the map panels."""
    maps = [analysis.maps[n] for n in names]
    scale = shared_scale(maps)
    rows = len(maps) + 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.13,  # room: ticks, unit, title
                        subplot_titles=[*names, "summed over bands"])
    top = fig.layout["yaxis"].domain[1]
    bottom = fig.layout[f"yaxis{len(maps) if len(maps) > 1 else ''}"].domain[0]  # the last map panel's foot
    for row, m in enumerate(maps, start=1):
        values, times = on_clip(analysis, normalise(m.values, scale), m.frame_times)
        fig.add_heatmap(z=values, x=times, y=np.arange(len(m.band_hz)), zmin=0, zmax=1,
                        colorscale=SEQUENTIAL, name=m.method, showscale=row == 1,
                        colorbar=dict(title=dict(text="Grad-CAM<br>(shared scale, 0–1)"), thickness=14,
                                      len=top - bottom, lenmode="fraction", y=top, yanchor="top"),
                        customdata=np.broadcast_to(np.asarray(m.band_hz)[:, None], values.shape),
                        hovertemplate="t=%{x:.2f} s<br>%{customdata:.0f} Hz<br>Grad-CAM %{z:.2f}<extra>"
                                      + m.method + "</extra>",
                        row=row, col=1)
        _band_axis(fig, m.band_hz, analysis.cfg.kind == "mfcc", row=row, col=1)
    colours = method_colours(names)
    peak = max(float(np.abs(m.time_profile()).max()) for m in maps) or 1.0
    for m in maps:
        curve, times = on_clip(analysis, m.time_profile(), m.frame_times)
        fig.add_scatter(x=times, y=curve / peak, mode="lines",
                        name=f"{m.method} (summed over bands)", line=dict(color=colours[m.method]),
                        row=rows, col=1)
    fig.update_yaxes(title_text="share of the peak (0–1)", row=rows, col=1)
    for row in range(1, rows + 1):
        clip_axis(fig, analysis.clip_seconds, row=row, col=1)
        fig.update_xaxes(showticklabels=True, ticks="outside", row=row, col=1)
    fig.update_layout(height=height, margin=dict(l=70, r=20, t=30, b=50),
                      legend=dict(orientation="h", y=-0.1, yanchor="top", x=0))
    return fig
