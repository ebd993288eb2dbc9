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
              *, height: int = 320) -> go.Figure:
    """Spearman rank correlation and top-k% IoU for every pair of methods, as two annotated matrices."""
    n = len(methods)
    rho, iou = np.eye(n), np.eye(n)
    for (a, b), scores in pairs.items():
        i, j = methods.index(a), methods.index(b)
        rho[i, j] = rho[j, i] = scores["rank_correlation"]
        iou[i, j] = iou[j, i] = scores["top_iou"]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.18,
                        subplot_titles=("Spearman rank correlation", f"IoU of the top {fraction:.0%} cells"))
    fig.add_heatmap(z=rho, x=methods, y=methods, zmin=-1, zmax=1, colorscale=DIVERGING, text=np.round(rho, 2),
                    texttemplate="%{text}", colorbar=dict(title=dict(text="ρ"), x=0.41), row=1, col=1)
    fig.add_heatmap(z=iou, x=methods, y=methods, zmin=0, zmax=1, colorscale=SEQUENTIAL, text=np.round(iou, 2),
                    texttemplate="%{text}", colorbar=dict(title=dict(text="IoU")), row=1, col=2)
    fig.update_xaxes(title_text="method")
    fig.update_yaxes(title_text="method", autorange="reversed")
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=40, b=40))
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


def sanity(steps, method: str, *, height: int = 320) -> go.Figure:
    """Rank correlation with the original map as layers are re-initialised from the top down."""
    fig = go.Figure(go.Scatter(x=[s.layer for s in steps], y=[s.rank_correlation for s in steps], mode="lines+markers",
                               line=dict(color=VERMILLION), name=f"{method} vs original (Spearman ρ)"))
    fig.add_hline(y=0, line=dict(color=GREY, dash="dot"))
    many = len(steps) > 24  # big models: names on hover only
    fig.update_xaxes(title_text="randomised down to layer (cumulative, from the output)"
                     + (": hover for names" if many else ""), tickangle=-40, showticklabels=not many)
    fig.update_yaxes(title_text="rank correlation ρ", range=[-1.05, 1.05])
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=10, b=90), showlegend=True,
                      legend=dict(orientation="h", y=1.12))
    return fig


def branches(analysis: Analysis, names: list[str], *, height: int = 620) -> go.Figure:
    """The fusion model's per-branch Grad-CAM maps (one shared scale: both are gradients of one logit)
    and their time curves on one timeline, the clip's own (the padding of a short clip cropped)."""
    maps = [analysis.maps[n] for n in names]
    scale = shared_scale(maps)
    fig = make_subplots(rows=len(maps) + 1, cols=1, shared_xaxes=True, vertical_spacing=0.05,
                        subplot_titles=[*names, "summed over bands"])
    for row, m in enumerate(maps, start=1):
        values, times = on_clip(analysis, normalise(m.values, scale), m.frame_times)
        fig.add_heatmap(z=values, x=times, y=np.arange(len(m.band_hz)), zmin=0, zmax=1,
                        colorscale=SEQUENTIAL, name=m.method, showscale=row == 1,
                        colorbar=dict(title=dict(text="Grad-CAM<br>(shared scale)"), len=0.6, y=0.7),
                        row=row, col=1)
        _band_axis(fig, m.band_hz, analysis.cfg.kind == "mfcc", row=row, col=1)
    colours = method_colours(names)
    peak = max(float(np.abs(m.time_profile()).max()) for m in maps) or 1.0
    for m in maps:
        curve, times = on_clip(analysis, m.time_profile(), m.frame_times)
        fig.add_scatter(x=times, y=curve / peak, mode="lines",
                        name=f"{m.method} (summed over bands)", line=dict(color=colours[m.method]),
                        row=len(maps) + 1, col=1)
    fig.update_yaxes(title_text="Grad-CAM (shared scale)", row=len(maps) + 1, col=1)
    for row in range(1, len(maps) + 2):
        clip_axis(fig, analysis.clip_seconds, title=row == len(maps) + 1, row=row, col=1)
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=30, b=40), legend=dict(orientation="h", y=-0.08))
    return fig
