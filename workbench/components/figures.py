"""Plotly figure builders for one clip. Every axis carries its unit; colour maps are colour-blind safe.

They only draw: values come from ``core`` (an ``Analysis``, a spectrogram), and the scaling of
attribution maps for display is ``core.explain.normalise`` (each map to its own largest value) or
``core.explain.rank_normalise`` (each cell's rank within its map: comparable across methods).

One timeline: every figure of a clip is drawn on the clip's own time axis, 0 .. its duration. A
clip shorter than the model's training length is padded before the model hears it; the maps,
the model-input spectrogram and the time curves crop that padding (``Analysis.on_clip``), so a
1 s word is drawn on 0-1 s in the waveform and in every map below it.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

from core.explain import Analysis, normalise, rank_normalise
from core.features import FeatureConfig, frame_times, mel_band_hz
from core.figures import envelope
from workbench.components.colours import BLUE, DIVERGING, GREY, SEQUENTIAL, UNDERLAY

#: Kept for callers of the shell's API.
SPECTROGRAM_COLOURS = SEQUENTIAL
TIME_AXIS = "time (s)"
FREQ_AXIS = "frequency (Hz, mel scale)"
MAX_POINTS = 8000  # points of a waveform trace (min/max envelope, ``core.figures.envelope``)


def clip_axis(fig: go.Figure, seconds: float, *, title: bool = True, **where) -> None:
    """The clip's own time axis, 0 .. ``seconds``, shared by every figure of one clip."""
    fig.update_xaxes(range=[0.0, float(seconds)], **({"title_text": TIME_AXIS} if title else {}), **where)


def on_clip(analysis: Analysis, values: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (``(..., frames)`` on the model input's ``times``) cropped to the clip, and their times on
    the clip's own timeline (the padding of a short clip left out)."""
    window, clip_times = analysis.on_clip(times)
    return np.asarray(values)[..., window], clip_times


def waveform(wave: torch.Tensor | np.ndarray, sr: int, *, height: int = 160, max_points: int = MAX_POINTS) -> go.Figure:
    """Waveform against seconds (0 .. the clip's duration), decimated by min/max envelope so long clips stay light."""
    x = wave.detach().cpu().numpy() if isinstance(wave, torch.Tensor) else np.asarray(wave)
    t, y = envelope(x, sr, max_points)
    fig = go.Figure(go.Scatter(x=t, y=y, mode="lines", line=dict(width=1, color=BLUE), name="waveform"))
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=10, b=40), showlegend=False)
    clip_axis(fig, len(x) / sr)
    fig.update_yaxes(title_text="amplitude", range=[-1, 1])
    return fig


def _band_axis(fig: go.Figure, band_hz: np.ndarray, mfcc: bool, **where) -> None:
    if mfcc:
        fig.update_yaxes(title_text="MFCC index", **where)
        return
    ticks = np.linspace(0, len(band_hz) - 1, 6).round().astype(int)
    fig.update_yaxes(title_text=FREQ_AXIS, tickvals=ticks, ticktext=[f"{band_hz[i]:.0f}" for i in ticks], **where)


def spectrogram(spec: torch.Tensor | np.ndarray, cfg: FeatureConfig, *, seconds: float | None = None,
                height: int = 300) -> go.Figure:
    """Log-mel spectrogram of a clip on seconds x Hz axes (mel bands labelled by their centre frequency);
    ``seconds``: the clip's duration, the end of the time axis (default: the last frame's time)."""
    values = spec.detach().cpu().numpy() if isinstance(spec, torch.Tensor) else np.asarray(spec)
    times = frame_times(values.shape[-1], cfg).numpy()
    hz = mel_band_hz(cfg).numpy()
    fig = go.Figure(
        go.Heatmap(
            z=values, x=times, y=np.arange(len(hz)), colorscale=SEQUENTIAL,
            colorbar=dict(title=dict(text="ln mel energy")),
            customdata=np.broadcast_to(hz[:, None], values.shape),
            hovertemplate="t=%{x:.2f} s<br>%{customdata:.0f} Hz<br>%{z:.2f}<extra></extra>",
        )
    )
    _band_axis(fig, hz, False)
    clip_axis(fig, seconds if seconds is not None else float(times[-1]))
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=10, b=40))
    return fig


def probabilities(labels, probs: np.ndarray, *, target: int | None = None, height: int = 200) -> go.Figure:
    """Class probabilities as horizontal bars; the predicted class in blue, the explained target marked."""
    probs = np.asarray(probs, dtype=float)
    predicted = int(np.argmax(probs))
    names = [f"{label} ◀ explained" if i == target and target != predicted else label for i, label in enumerate(labels)]
    fig = go.Figure()
    for title, chosen, colour in (("predicted", True, BLUE), ("other classes", False, GREY)):
        idx = [i for i in range(len(labels)) if (i == predicted) == chosen]
        fig.add_bar(x=probs[idx], y=[names[i] for i in idx], orientation="h", name=title, marker_color=colour,
                    text=[f"{probs[i]:.2f}" for i in idx], textposition="outside",
                    hovertemplate="%{y}: %{x:.3f}<extra></extra>")
    fig.update_xaxes(title_text="probability", range=[0, 1.12])
    fig.update_yaxes(title_text="emotion", categoryorder="array", categoryarray=names[::-1])
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=10, b=40), barmode="overlay",
                      legend=dict(x=1.0, xanchor="right", y=0.0, yanchor="bottom"))
    return fig


def overlay(analysis: Analysis, method: str, *, opacity: float = 0.6, ranked: bool = False,
            height: int = 380) -> go.Figure:
    """The model's input spectrogram in grey with one attribution map on top, on seconds x Hz axes.

    Each map is scaled by its own largest |attribution| (1 = its strongest cell), or with ``ranked`` by each
    cell's rank within the map, which compares across methods whose values are in different units. Signed maps
    (LIME, occlusion) use a diverging scale centred on zero. The map is scaled over the whole model input, then
    drawn on the clip's own timeline (padding cropped). The colour bar says which scale it is.
    """
    m = analysis.maps[method]
    signed = bool((m.values < 0).any())
    scaled = rank_normalise(m.values, signed=signed) if ranked else normalise(m.values, signed=signed)
    values, times = on_clip(analysis, scaled, m.frame_times)
    underlay, _ = on_clip(analysis, analysis.spectrogram, m.frame_times)
    bands = np.arange(len(m.band_hz))
    mfcc = analysis.cfg.kind == "mfcc"
    peak = float(np.abs(m.values).max())
    bar = ("rank in map (1 = strongest" + (", signed)" if signed else ")") if ranked  # short: three maps a row
           else f"attribution ÷ map max ({peak:.2g})")
    fig = go.Figure()
    fig.add_heatmap(z=underlay, x=times, y=bands, colorscale=UNDERLAY, showscale=False,
                    name="spectrogram", hoverinfo="skip")
    raw, _ = on_clip(analysis, m.values, m.frame_times)
    fig.add_heatmap(
        z=values, x=times, y=bands, opacity=opacity, name=method,
        colorscale=DIVERGING if signed else SEQUENTIAL, zmin=-1 if signed else 0, zmax=1,
        colorbar=dict(title=dict(text=bar, side="bottom"), orientation="h", y=-0.3, yanchor="top", thickness=10,
                      len=0.9),
        customdata=np.stack([np.broadcast_to(np.asarray(m.band_hz)[:, None], values.shape), raw], axis=-1),
        hovertemplate="t=%{x:.2f} s<br>" + ("MFCC %{y}" if mfcc else "%{customdata[0]:.0f} Hz")
        + "<br>attribution %{customdata[1]:.3g} (shown %{z:.2f})<extra></extra>",
    )
    _band_axis(fig, m.band_hz, mfcc)
    clip_axis(fig, analysis.clip_seconds)
    about = ("attention weights (one per step, the same for every emotion)" if method == "attention"
             else f"for '{m.target_label}'")
    windows = f" · {m.settings['windows']} windows" if m.settings.get("windows") else ""
    fig.update_layout(height=height, margin=dict(l=60, r=10, t=30, b=110),
                      title=dict(text=f"{about} · computed in {m.seconds:.2f} s{windows}", font=dict(size=12)))
    return fig
