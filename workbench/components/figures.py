"""Plotly figure builders. Every axis carries its unit; colour maps are colour-blind safe."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

from core.features import FeatureConfig, frame_times, mel_band_hz

#: Perceptually uniform and readable with colour-vision deficiencies.
SPECTROGRAM_COLOURS = "Cividis"


def waveform(wave: torch.Tensor, sr: int, *, height: int = 160, max_points: int = 8000) -> go.Figure:
    """Waveform against seconds, decimated by min/max envelope so long clips stay light."""
    x = wave.detach().cpu().numpy()
    step = max(1, len(x) // max_points)
    if step > 1:
        n = len(x) // step
        blocks = x[: n * step].reshape(n, step)
        t = np.repeat(np.arange(n) * step / sr, 2)
        y = np.stack([blocks.min(axis=1), blocks.max(axis=1)], axis=1).ravel()
    else:
        t, y = np.arange(len(x)) / sr, x
    fig = go.Figure(go.Scatter(x=t, y=y, mode="lines", line=dict(width=1, color="#0072B2"), name="waveform"))
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=10, b=40), showlegend=False)
    fig.update_xaxes(title_text="time (s)")
    fig.update_yaxes(title_text="amplitude", range=[-1, 1])
    return fig


def spectrogram(spec: torch.Tensor, cfg: FeatureConfig, *, height: int = 300) -> go.Figure:
    """Log-mel spectrogram on seconds x Hz axes (mel bands labelled by their centre frequency)."""
    values = spec.detach().cpu().numpy()
    times = frame_times(values.shape[-1], cfg).numpy()
    hz = mel_band_hz(cfg).numpy()
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=times,
            y=np.arange(len(hz)),
            colorscale=SPECTROGRAM_COLOURS,
            colorbar=dict(title=dict(text="log mel")),
            customdata=np.broadcast_to(hz[:, None], values.shape),
            hovertemplate="t=%{x:.2f} s<br>%{customdata:.0f} Hz<br>%{z:.2f}<extra></extra>",
        )
    )
    ticks = np.linspace(0, len(hz) - 1, 6).round().astype(int)
    fig.update_yaxes(title_text="frequency (Hz, mel scale)", tickvals=ticks, ticktext=[f"{hz[i]:.0f}" for i in ticks])
    fig.update_xaxes(title_text="time (s)")
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=10, b=40))
    return fig
