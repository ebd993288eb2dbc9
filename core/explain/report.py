"""Write an Analysis to files: overlay PNGs, maps (NPZ), audio versions (WAV), scores (JSON).

The CLI's ``serwb explain`` and the workbench's export both use this, so a figure exported
from the browser is the same file the command line writes.

Figures (``core.figures``) are drawn on the clip's own timeline, 0 .. its duration, the padding of a
short clip cropped (``Analysis.on_clip``). The maps in ``maps.npz`` are not cropped (attributions are data);
the JSON and the NPZ say where the clip lies in them (``clip_offset``, ``clip_duration``).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from core import __version__, figures, jsonsafe
from core.audio import to_wav_bytes
from core.checkpoint import write_bytes_atomically
from core.explain.analysis import Analysis

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
    """Write every part of ``analysis`` under ``out_dir``; returns the files written.

    Each file goes through a temporary file and one rename (``checkpoint.write_bytes_atomically``), so a reader,
    or a run killed halfway, finds every file whole or absent, and an earlier export's file until it is replaced.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {f"overlay-{method}.png": _png(figures.overlay_figure(analysis, method)) for method in analysis.maps}
    maps = io.BytesIO()
    np.savez_compressed(maps, **npz_arrays(analysis))
    files["maps.npz"] = maps.getvalue()
    for name, version in analysis.audio.items():
        files[f"audio-{name}.wav"] = to_wav_bytes(version.wave, analysis.sr)
    files["analysis.json"] = jsonsafe.dumps(summary(analysis, extra)).encode("utf-8")
    return [write_bytes_atomically(out / name, data) for name, data in files.items()]


def _png(figure) -> bytes:
    buf = io.BytesIO()
    figure.savefig(buf, format="png")
    return buf.getvalue()
