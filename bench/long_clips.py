"""Long clips: how the time of the default methods grows with the clip's length, window by window against one
whole-clip pass, on the shipped real-speech model and real Polish speech.

The clip is the words of ``assets/polish`` one after another (0.1 s apart), cut to each length. "windowed" is
``core.explain.analyze`` (clips over twice the training length explained in windows of that length,
``core.explain.windows``); "whole" explains the same clip as one input (``core.explain.methods.explain`` on the
whole model input). Occlusion alone on the whole clip is also timed incremental (``core.explain.incremental``,
whose cost grows with the number of windows, i.e. linearly) against plain forwards (each window a forward of
the whole clip: the length squared). Run: ``python -m bench.long_clips``.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from core import checkpoint, devices
from core.audio import Clip
from core.explain import Settings, analyze
from core.explain import methods as registry
from core.explain.analysis import card_fields, model_input
from core.explain.subject import Subject

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "assets" / "models" / "polish-cnn-eca"
METHODS = ("gradcam", "occlusion", "lime")


def real_speech(seconds: float, sr: int = 16_000) -> Clip:
    """``seconds`` of real Polish words, one after another."""
    parts, total = [], 0
    for path in sorted((ROOT / "assets" / "polish").glob("*.flac")):
        wave, rate = sf.read(path, dtype="float32")
        assert rate == sr, f"{path} is {rate} Hz"
        parts += [wave, np.zeros(int(0.1 * sr), dtype=np.float32)]
        total += len(wave) + int(0.1 * sr)
        if total >= seconds * sr:
            break
    wave = torch.from_numpy(np.concatenate(parts)[: int(seconds * sr)].copy())
    return Clip(wave, sr, sr, 1, hashlib.sha256(wave.numpy().tobytes()).hexdigest(), f"{seconds:g} s of speech")


def whole_subject(clip: Clip, model, card, device: torch.device) -> tuple[Subject, int]:
    labels, cfg, seconds, _, padding = card_fields(card)
    _, features, _ = model_input(clip, cfg, seconds, device, padding)
    subject = Subject(model, features, cfg, labels, padding)
    return subject, int(subject.probabilities(features[None])[0].argmax())


def whole_clip(clip: Clip, model, card, device: torch.device) -> float:
    """Seconds for the default methods on the clip as one input (no windows)."""
    subject, target = whole_subject(clip, model, card, device)
    started = time.perf_counter()
    for method in METHODS:
        registry.explain(method, subject, target)
    return time.perf_counter() - started


def whole_occlusion(clip: Clip, model, card, device: torch.device, incremental: bool) -> float:
    """Seconds for occlusion alone on the clip as one input, incremental or with plain forwards."""
    subject, target = whole_subject(clip, model, card, device)
    started = time.perf_counter()
    registry.explain("occlusion", subject, target, registry.settings_for("occlusion", incremental=incremental))
    return time.perf_counter() - started


def run(lengths=(3.0, 15.0, 60.0), whole_up_to: float = 15.0, device: str = "auto") -> tuple[list[dict], str]:
    model, card = checkpoint.load(MODEL, device=device)
    target_device = devices.for_model(model, device)
    settings = Settings(audio=False)
    analyze(real_speech(min(lengths)), model, card, methods=METHODS, settings=settings, device=device)  # warm-up:
    rows = []  # torch's first calls set up kernels for each shape, which the first row would otherwise carry
    for seconds in lengths:
        clip = real_speech(seconds)
        started = time.perf_counter()
        analysis = analyze(clip, model, card, methods=METHODS, settings=settings, device=device)
        windowed = sum(analysis.timings[m] for m in METHODS)
        rows.append({"seconds": seconds, "windows": analysis.maps["occlusion"].settings.get("windows", 1),
                     "windowed": windowed, "occlusion": analysis.timings["occlusion"],
                     "lime": analysis.timings["lime"], "total": time.perf_counter() - started,
                     "whole": whole_clip(clip, model, card, target_device) if seconds <= whole_up_to else None,
                     "whole_occlusion": whole_occlusion(clip, model, card, target_device, incremental=True),
                     "whole_plain": whole_occlusion(clip, model, card, target_device, incremental=False)
                     if seconds <= whole_up_to else None})
    context = (f"shipped {MODEL.name} (trained on {card.training['seconds']:g} s), methods {', '.join(METHODS)} with "
               f"default settings, no audio versions, device {target_device}, torch threads {torch.get_num_threads()}")
    return rows, context


def markdown(rows: list[dict], context: str) -> str:
    first = rows[0]
    lines = [f"Setup: {context}.", "",
             "| clip (s) | windows | windowed (s) | x first | occlusion (s) | LIME (s) | whole clip (s) | x first |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        whole = f"{r['whole']:.2f} | {r['whole'] / first['whole']:.1f}x" if r["whole"] and first["whole"] else "- | -"
        lines.append(f"| {r['seconds']:g} | {r['windows']} | {r['windowed']:.2f} | {r['windowed'] / first['windowed']:.1f}x "
                     f"| {r['occlusion']:.2f} | {r['lime']:.2f} | {whole} |")
    lines += ["", "| clip (s) | whole-clip occlusion, incremental (s) | x first | plain forwards (s) | x first |",
              "|---|---|---|---|---|"]
    for r in rows:
        plain = (f"{r['whole_plain']:.2f} | {r['whole_plain'] / first['whole_plain']:.1f}x"
                 if r["whole_plain"] and first["whole_plain"] else "- | -")
        lines.append(f"| {r['seconds']:g} | {r['whole_occlusion']:.2f} | "
                     f"{r['whole_occlusion'] / first['whole_occlusion']:.1f}x | {plain} |")
    lines += ["", "Windowed: `core.explain.analyze` (windows of the training length, stitched). Whole clip: the same "
              "methods on the clip as one input, run only up to the longest length asked for (LIME's cells and "
              "each forward both grow with the length). Occlusion on the whole clip: incremental (each window "
              "recomputes only the layers' slabs it reaches) against plain forwards of the whole clip per window."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--lengths", default="3,15,60", help="clip lengths in seconds, comma-separated")
    parser.add_argument("--whole-up-to", type=float, default=15.0, help="longest clip also explained whole")
    args = parser.parse_args()
    rows, context = run(tuple(float(x) for x in args.lengths.split(",")), args.whole_up_to, args.device)
    print(markdown(rows, context))


if __name__ == "__main__":
    main()
