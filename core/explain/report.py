"""Write an Analysis to files: overlay PNGs, maps (NPZ), audio versions (WAV), scores (JSON).

The CLI's ``serwb explain`` and the workbench's export both use this, so a figure exported
from the browser is the same file the command line writes.

Figures are drawn on the clip's own timeline, 0 .. its duration, as the workbench draws them: a clip
shorter than the model's training length is padded before the model hears it, and the figures crop
that padding (``Analysis.on_clip``). The maps in ``maps.npz`` are not cropped (attributions are data);
the JSON and the NPZ say where the clip lies in them (``clip_offset``, ``clip_duration``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap  # noqa: E402
import numpy as np  # noqa: E402

from core import __version__  # noqa: E402
from core.audio import to_wav_bytes  # noqa: E402
from core.explain.analysis import Analysis  # noqa: E402
from core.explain.colours import BLUE, VERMILLION, WHITE  # noqa: E402
from core.explain.maps import normalise, shared_scale  # noqa: E402

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
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=110)
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
    fig.tight_layout()
    return fig


def timeline(analysis: Analysis) -> dict[str, Any]:
    """Where the clip lies in the model input (short clips are padded to the model's length), for lining the
    exported maps, which are not cropped, up with the clip."""
    window, _ = analysis.on_clip(analysis.frame_times)
    original = analysis.audio.get("original")
    return {
        "clip_offset": float(analysis.clip_offset),
        "clip_duration": float(analysis.clip_seconds),
        "model_input_seconds": original.wave.shape[-1] / analysis.sr if original is not None else None,
        "clip_frames": [window.start, window.stop],
        "timeline": "maps.npz holds the maps over the whole model input, padding included, and its frame_times "
                    "are on the model input's timeline: the clip runs from clip_offset to clip_offset + "
                    "clip_duration seconds there (frames clip_frames[0] .. clip_frames[1] - 1); subtract "
                    "clip_offset for the clip's own time. The figures are drawn on the clip's own timeline, "
                    "0 .. clip_duration, the padding cropped.",
    }


def npz_arrays(analysis: Analysis) -> dict[str, np.ndarray]:
    """The model input, every map (uncropped: attributions are data) and the clip's place in the input."""
    window, _ = analysis.on_clip(analysis.frame_times)
    arrays = {"spectrogram": analysis.spectrogram, "frame_times": analysis.frame_times, "band_hz": analysis.band_hz,
              "clip_offset": np.float64(analysis.clip_offset), "clip_duration": np.float64(analysis.clip_seconds),
              "clip_frames": np.asarray([window.start, window.stop], dtype=np.int64)}
    for m in analysis.maps.values():
        arrays.update(m.to_npz_dict())
    return arrays


def summary(analysis: Analysis, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Scores, timings, settings and provenance as JSON-able data."""
    return {
        "serwb_version": __version__,
        "clip_sha256": analysis.clip_sha256,
        "model_weights_sha256": analysis.model_hash,
        "features": analysis.cfg.to_dict(),
        "labels": list(analysis.labels),
        "probabilities": dict(zip(analysis.labels, map(float, analysis.probabilities))),
        "predicted": analysis.predicted_label,
        "target": analysis.labels[analysis.target],
        **timeline(analysis),
        "settings": analysis.settings.to_dict(),
        "timings_s": analysis.timings,
        "maps": {name: {"settings": dict(m.settings), "seconds": m.seconds} for name, m in analysis.maps.items()},
        "audio": {name: {"description": v.description,
                         "probabilities": dict(zip(analysis.labels, map(float, v.probabilities)))}
                  for name, v in analysis.audio.items()},
        "errors": analysis.errors,
        **(extra or {}),
    }


def write(analysis: Analysis, out_dir: Path | str, extra: dict[str, Any] | None = None) -> list[Path]:
    """Write every part of ``analysis`` under ``out_dir``; returns the files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for method in analysis.maps:
        fig = overlay_figure(analysis, method)
        path = out / f"overlay-{method}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    np.savez_compressed(out / "maps.npz", **npz_arrays(analysis))
    written.append(out / "maps.npz")
    for name, version in analysis.audio.items():
        path = out / f"audio-{name}.wav"
        path.write_bytes(to_wav_bytes(version.wave, analysis.sr))
        written.append(path)
    path = out / "analysis.json"
    path.write_text(json.dumps(summary(analysis, extra), indent=2, default=jsonable))
    written.append(path)
    return written


def jsonable(value):
    """``json.dumps(..., default=jsonable)``: NumPy scalars and arrays as numbers and lists, anything else as text."""
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
