"""Attribution speed: ours vs the default use of captum and lime, side by side in one run.

For the demo cnn-eca on a 3 s clip: per method, our time, the library-default time and their
ratio, and our time over the forward-pass floor (number of model calls x the time of those
calls in one batch) — how much the method costs beyond the forwards it cannot avoid.

    .venv/bin/python -m bench.explain [--device auto] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from captum.attr import Occlusion
from lime import lime_image

from core import devices
from core.audio import fix_length, load_audio, to_wav_bytes
from core.checkpoint import Card, load
from core.explain.baselines import baseline
from core.explain.gradcam import gradcam
from core.explain.lime import LimeSettings, lime
from core.explain.occlusion import OcclusionSettings, occlusion
from core.explain.sonify import FocusSettings, focus_clip
from core.explain.subject import Subject
from core.features import PRESETS, frontend
from core.models import build, demo_config

ROOT = Path(__file__).resolve().parent.parent
DEMO_MODEL = ROOT / "assets" / "models" / "cnn-eca"
TARGETS_CPU = {"gradcam": 0.1, "occlusion": 2.0, "lime": 5.0, "focus audio": 0.05}
TARGET_GPU_ALL = 0.25  # Grad-CAM + occlusion + LIME together on a GPU


def demo_subject(device: torch.device) -> tuple[Subject, torch.Tensor, str]:
    """The shipped demo cnn-eca and a 3 s demo clip (or a demo-size model and a synthetic clip)."""
    if (DEMO_MODEL / "card.json").is_file():
        model, card = load(DEMO_MODEL, device=device)
        source = "shipped demo cnn-eca"
    else:
        torch.manual_seed(0)
        model = build("cnn-eca", 4, **demo_config("cnn-eca")).to(device).eval()
        card = Card(model="cnn-eca", labels=("angry", "happy", "neutral", "sad"), features=PRESETS["stft-v8"])
        source = "untrained demo-size cnn-eca (no shipped model found)"
    clips = sorted((ROOT / "assets" / "demo").rglob("*.wav"))
    if clips:
        wave = load_audio(clips[0]).wave
    else:
        t = torch.arange(48_000) / 16_000
        wave = load_audio(to_wav_bytes(0.3 * torch.sin(2 * torch.pi * 220 * t), 16_000)).wave
    cfg = card.features
    wave = fix_length(wave, 3 * cfg.sample_rate).to(device)
    with torch.no_grad():
        features = frontend(cfg, device)(wave)
    return Subject(model, features, cfg, card.labels), wave, source


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        started = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return min(times)


def forward_floor(subject: Subject, n: int, repeats: int) -> float:
    """Time of ``n`` model calls made as batched as we make them (``Subject.batch_size``)."""
    batch = subject.features[None].expand(min(n, subject.batch_size()), -1, -1).contiguous()
    per_chunk = best_of(repeats, lambda: subject.probabilities(batch))
    return per_chunk * n / batch.shape[0]


def lime_default(subject: Subject, target: int, num_samples: int) -> None:
    """lime's image explainer as documented (quickshift superpixels, batch_size=10), on the same task as
    ours: one target label (``top_labels=None``) and hidden segments set to the spectrogram's floor."""
    spec = subject.features.cpu().numpy()

    def classify(images):
        batch = torch.as_tensor(images[..., 0], dtype=torch.float32, device=subject.device)
        return subject.probabilities(batch).cpu().numpy()

    explainer = lime_image.LimeImageExplainer(random_state=0)
    explainer.explain_instance(spec, classify, labels=(target,), top_labels=None, hide_color=float(spec.min()),
                               num_samples=num_samples, batch_size=10, random_seed=0)


def run(device: str = "auto", repeats: int = 3) -> tuple[list[dict], str]:
    target_device = devices.resolve(device)
    subject, wave, source = demo_subject(target_device)
    target = int(subject.probabilities(subject.features[None])[0].argmax())
    occ, lim = OcclusionSettings(), LimeSettings()
    bands, frames = subject.features.shape
    occ_window = (occ.window_bands, int(round(occ.window_ms / subject.cfg.hop_ms)))
    occ_stride = (occ.stride_bands, int(round(occ.stride_ms / subject.cfg.hop_ms)))
    n_occ = ((bands - occ_window[0]) // occ_stride[0] + 1) * ((frames - occ_window[1]) // occ_stride[1] + 1) + 1
    base = baseline(subject.features, "silence")[None]

    gradcam(subject, target)  # warm-up (first call builds captum's hooks, allocator pools)
    rows = [
        {"method": "gradcam", "ours": best_of(repeats, lambda: gradcam(subject, target)), "default": None,
         "floor": forward_floor(subject, 1, repeats) * 2},  # one forward + one backward
        {"method": "occlusion", "ours": best_of(repeats, lambda: occlusion(subject, target, occ)),
         "default": best_of(1, lambda: Occlusion(subject.model).attribute(
             subject.features[None], sliding_window_shapes=occ_window, strides=occ_stride, baselines=base,
             target=target, perturbations_per_eval=1)),
         "floor": forward_floor(subject, n_occ, repeats)},
        {"method": "lime", "ours": best_of(repeats, lambda: lime(subject, target, lim)),
         "default": best_of(1, lambda: lime_default(subject, target, lim.num_samples)),
         "floor": forward_floor(subject, lim.num_samples, repeats)},
    ]
    gradcam_map = gradcam(subject, target)["gradcam"]
    rows.append({"method": "focus audio", "default": None, "floor": None,
                 "ours": best_of(repeats, lambda: focus_clip(wave, subject.cfg.sample_rate, gradcam_map, FocusSettings()))})
    for row in rows:
        row["target"] = TARGETS_CPU.get(row["method"]) if target_device.type == "cpu" else None
    rows.append({"method": "all three", "default": None, "floor": None,
                 "ours": sum(r["ours"] for r in rows if r["method"] in ("gradcam", "occlusion", "lime")),
                 "target": TARGET_GPU_ALL if target_device.type == "cuda" else None})
    context = (f"{source}, 3 s clip ({bands} bands x {frames} frames), device {target_device}, "
               f"torch threads {torch.get_num_threads()}, best of {repeats}")
    return rows, context


def markdown(rows: list[dict], context: str) -> str:
    def s(value):
        return "-" if value is None else f"{value:.3f}"

    lines = [f"Setup: {context}.", "",
             "| method | ours (s) | library default (s) | speed-up | forward floor (s) | ours / floor | target (s) | met |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['default'] / r['ours']:.1f}x" if r["default"] else "-"
        over = f"{r['ours'] / r['floor']:.2f}" if r["floor"] else "-"
        met = "-" if r["target"] is None else ("yes" if r["ours"] <= r["target"] else "no")
        lines.append(f"| {r['method']} | {s(r['ours'])} | {s(r['default'])} | {ratio} | {s(r['floor'])} | {over} | "
                     f"{s(r['target'])} | {met} |")
    lines += ["", "Library defaults: captum `Occlusion` with `perturbations_per_eval=1`; "
              "`lime_image.LimeImageExplainer.explain_instance` with quickshift superpixels and `batch_size=10` "
              "(same number of samples). Ours: forwards batched by `Subject.batch_size` (free memory on a GPU, cache-sized on a CPU); LIME on a time x mel-band grid "
              "with batched perturbations built on the device."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows, context = run(args.device, args.repeats)
    print(markdown(rows, context))


if __name__ == "__main__":
    main()
