"""Figures for the Listen page: the time-activation curve under the waveform, and each version's probabilities."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.explain import Analysis
from core.figures import envelope
from workbench.components.colours import BLUE, GREY, OKABE_ITO, VERMILLION, by_label
from workbench.components.figures import MAX_POINTS, clip_axis, on_clip


def _samples_on_clip(analysis: Analysis, x: np.ndarray) -> np.ndarray:
    """A per-sample signal of the model input (waveform, gate, curve) cropped to the clip's own samples."""
    start = int(round(analysis.clip_offset * analysis.sr))
    return np.asarray(x)[start:start + int(round(analysis.clip_seconds * analysis.sr))]


def _every(x: np.ndarray, sr: int, max_points: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    step = max(1, len(x) // max_points)
    return np.arange(0, len(x), step) / sr, x[::step]


def activation(analysis: Analysis, threshold: float, *, height: int = 460) -> go.Figure:
    """Waveform above the S3 time curve, its threshold and gate, and each map's curve, on the clip's own
    timeline (what the model heard, less the padding of a short clip)."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.4, 0.6], vertical_spacing=0.06)
    wave = _samples_on_clip(analysis, analysis.audio["original"].wave.numpy())
    t, y = envelope(wave, analysis.sr, MAX_POINTS)
    fig.add_scatter(x=t, y=y, mode="lines", line=dict(width=1, color=BLUE), name="waveform", row=1, col=1)
    if analysis.focus_gate is not None:
        gt, gate = _every(_samples_on_clip(analysis, analysis.focus_gate), analysis.sr)
        fig.add_scatter(x=gt, y=gate, mode="lines", fill="tozeroy", line=dict(width=0, color=GREY),
                        name="focus gate (0–1)", opacity=0.5, row=2, col=1)
        ct, curve = _every(_samples_on_clip(analysis, analysis.focus_curve), analysis.sr)
        fig.add_scatter(x=ct, y=curve, mode="lines", line=dict(width=2.5, color=VERMILLION),
                        name="Grad-CAM curve, smoothed", row=2, col=1)
        fig.add_hline(y=threshold, line=dict(dash="dash", color="black", width=1), row=2, col=1,
                      annotation_text=f"threshold {threshold:+.2f}", annotation_position="top left")
    for i, (name, full) in enumerate(analysis.time_curves.items()):
        peak = float(np.abs(full).max()) or 1.0  # over the whole input, as the gate and the maps
        curve, times = on_clip(analysis, full, analysis.frame_times)
        fig.add_scatter(x=times, y=curve / peak, mode="lines", name=f"{name} (summed over bands)",
                        line=dict(width=1, color=OKABE_ITO[(i + 1) % len(OKABE_ITO)], dash="dot"), row=2, col=1)
    fig.update_yaxes(title_text="amplitude", range=[-1, 1], row=1, col=1)
    fig.update_yaxes(title_text="activation (normalised)", range=[-1.05, 1.05], row=2, col=1)
    clip_axis(fig, analysis.clip_seconds, title=False, row=1, col=1)
    clip_axis(fig, analysis.clip_seconds, row=2, col=1)
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=10, b=40), legend=dict(orientation="h", y=-0.18))
    return fig


def versions(analysis: Analysis, *, height: int = 320) -> go.Figure:
    """The model's probabilities for each audio version, grouped by version, one colour per emotion."""
    names = list(analysis.audio)
    colours = by_label(analysis.labels)
    fig = go.Figure()
    for i, label in enumerate(analysis.labels):
        fig.add_bar(x=names, y=[analysis.audio[n].probabilities[i] for n in names], name=label,
                    marker_color=colours[label], hovertemplate=f"{label}: " + "%{y:.3f}<extra>%{x}</extra>")
    fig.update_layout(barmode="group", height=height, margin=dict(l=60, r=20, t=10, b=40),
                      legend=dict(title=dict(text="emotion")))
    fig.update_yaxes(title_text="probability", range=[0, 1])
    fig.update_xaxes(title_text="audio version")
    return fig
