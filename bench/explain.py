"""Attribution speed: ours vs the libraries' default use of the same computations, side by side in one run.

For the shipped demo cnn-eca and the paper-size CNN-ECA (n = 4, 2,734,482 parameters, untrained weights) on a 3 s
clip: the forward floor (ms per clip at batch 1, in our batches, compiled), then per method the captum / lime
default use, ours eager, ours with the compiled forwards, and the ratios; occlusion also as plain batched forwards
(no incremental inference) and LIME also with plain forwards (no cell patterns) and with all its samples (no
convergence stop). Last, the dataset throughput:
clips per second for Grad-CAM + occlusion + LIME over the demo test split (``core.explain.dataset``).

    .venv/bin/python -m bench.explain [--device auto] [--repeats 2] [--no-compile]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

import torch
from captum.attr import LayerGradCam, Lime, Occlusion
from lime import lime_image

from core import devices
from core.audio import fix_length, load_audio, to_wav_bytes
from core.checkpoint import Card, load
from core.data.corpora import load_manifest
from core.explain import compiled
from core.explain.dataset import analyze_dataset
from core.explain.gradcam import gradcam
from core.explain.lime import LimeSettings, grid_for, lime
from core.explain.occlusion import OcclusionSettings, occlusion
from core.explain.sonify import FocusSettings, focus_clip
from core.explain.subject import Subject
from core.features import PRESETS, frontend
from core.models import build, demo_config

ROOT = Path(__file__).resolve().parent.parent
DEMO_MODEL = ROOT / "assets" / "models" / "cnn-eca"
METHODS = ("gradcam", "occlusion", "lime")
TARGET_SPEED_UP = 5.0  # paper-size CNN-ECA, all three methods, ours vs captum's default use (issue 14)
TARGET_GPU_ALL = 0.05  # the same three on a GPU, seconds


def clip_wave(cfg, device: torch.device, seconds: float = 3.0) -> torch.Tensor:
    """A demo clip cut or padded to ``seconds`` (a tone when the demo corpus is not built)."""
    clips = sorted((ROOT / "assets" / "demo").rglob("*.wav"))
    if clips:
        wave = load_audio(clips[0]).wave
    else:
        t = torch.arange(48_000) / 16_000
        wave = load_audio(to_wav_bytes(0.3 * torch.sin(2 * torch.pi * 220 * t), 16_000)).wave
    return fix_length(wave, int(seconds * cfg.sample_rate)).to(device)


def subjects(device: torch.device, seconds: float = 3.0) -> list[tuple[str, Subject, torch.Tensor]]:
    """(name, subject, wave) for the demo model and the paper-size one."""
    if (DEMO_MODEL / "card.json").is_file():
        demo, card = load(DEMO_MODEL, device=device)
        demo_name = "demo cnn-eca (shipped, n = 1)"
    else:
        torch.manual_seed(0)
        demo = build("cnn-eca", 4, **demo_config("cnn-eca")).to(device).eval()
        card = Card(model="cnn-eca", labels=("angry", "happy", "neutral", "sad"), features=PRESETS["stft-v8"])
        demo_name = "demo-size cnn-eca (untrained: no shipped model)"
    torch.manual_seed(0)
    paper = build("cnn-eca", 4).to(device).eval()
    out = []
    for name, model in ((demo_name, demo), ("paper cnn-eca (n = 4, untrained)", paper)):
        cfg = card.features
        wave = clip_wave(cfg, device, seconds)
        with torch.no_grad():
            features = frontend(cfg, device)(wave)
        out.append((name, Subject(model, features, cfg, card.labels), wave))
    return out


def timed(fn, repeats: int = 1) -> float:
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


def per_clip_ms(subject: Subject, rows: int, repeats: int) -> float:
    batch = subject.features[None].expand(rows, -1, -1).contiguous()
    seconds = timed(lambda: subject.probabilities(batch, chunk=rows), repeats)
    return 1000 * seconds / rows


def captum_defaults(subject: Subject, target: int, occ: OcclusionSettings, lim: LimeSettings) -> dict[str, float]:
    """The three computations as captum documents them: ``LayerGradCam`` on the cam layer, ``Occlusion`` and
    ``Lime`` (same windows, same grid cells and baseline, same number of samples) one input per forward."""
    model, x = subject.model, subject.features[None]
    ours_occ = occlusion(subject, target, occ)["occlusion"].settings
    window = (min(occ.window_bands, x.shape[1]), ours_occ["window_frames"])
    strides = (min(occ.stride_bands, x.shape[1]), ours_occ["stride_frames"])
    _, base = subject.removed(occ.baseline)
    cells = torch.as_tensor(grid_for(subject, lim).labels(), device=x.device)[None]
    layer = model.get_submodule(model.spec.cam_layers[0])
    return {
        "gradcam": timed(lambda: LayerGradCam(model, layer).attribute(x, target=target)),
        "occlusion": timed(lambda: Occlusion(model).attribute(
            x, sliding_window_shapes=window, strides=strides, baselines=base[None], target=target,
            perturbations_per_eval=1)),
        "lime": timed(lambda: Lime(model).attribute(x, target=target, baselines=base[None], feature_mask=cells,
                                                    n_samples=lim.num_samples, perturbations_per_eval=1)),
    }


def lime_image_default(subject: Subject, target: int, num_samples: int) -> float:
    """lime's image explainer as documented (quickshift superpixels, batch_size=10), one target label."""
    spec = subject.features.cpu().numpy()

    def classify(images):
        batch = torch.as_tensor(images[..., 0], dtype=torch.float32, device=subject.device)
        return subject.probabilities(batch).cpu().numpy()

    explainer = lime_image.LimeImageExplainer(random_state=0)
    return timed(lambda: explainer.explain_instance(spec, classify, labels=(target,), top_labels=None,
                                                    hide_color=float(spec.min()), num_samples=num_samples,
                                                    batch_size=10, random_seed=0))


def ours(subject: Subject, target: int, occ: OcclusionSettings, lim: LimeSettings, repeats: int) -> dict:
    lime_runs = []
    times = {
        "gradcam": timed(lambda: gradcam(subject, target), repeats),
        "occlusion": timed(lambda: occlusion(subject, target, occ), repeats),
        "lime": timed(lambda: lime_runs.append(lime(subject, target, lim)["lime"]), repeats),
    }
    return {**times, "samples": lime_runs[-1].settings["samples_used"]}


def with_compile(value: str):
    os.environ["SERWB_COMPILE"] = value


def model_rows(name: str, subject: Subject, wave: torch.Tensor, repeats: int, use_compile: bool) -> dict:
    target = int(subject.probabilities(subject.features[None])[0].argmax())
    occ, lim = OcclusionSettings(), LimeSettings()
    rows = subject.batch_size()
    with_compile("off")
    gradcam(subject, target)  # warm-up: hooks, allocator pools
    result = {"name": name, "rows": rows, "shape": tuple(subject.features.shape),
              "floor_ms": {"batch 1": per_clip_ms(subject, 1, repeats), f"batch {rows}": per_clip_ms(subject, rows, repeats)}}
    result["default"] = captum_defaults(subject, target, occ, lim)
    result["lime_image"] = lime_image_default(subject, target, lim.num_samples)
    result["eager"] = ours(subject, target, occ, lim, repeats)
    result["plain occlusion"] = timed(lambda: occlusion(subject, target, OcclusionSettings(incremental=False)), repeats)
    result["plain lime"] = timed(lambda: lime(subject, target, LimeSettings(cell_patterns=False)), repeats)
    full = LimeSettings(stop_when_converged=False)
    result["all samples"] = timed(lambda: lime(subject, target, full), repeats)
    if use_compile:
        with_compile("always")
        shape = (rows, *subject.features.shape)
        entry = compiled.request(subject.model, shape)
        entry.ready.wait()
        result["compile_s"] = entry.seconds
        result["compile_failed"] = entry.failed
        result["compile_cached"] = entry.cached
        result["floor_ms"]["compiled"] = per_clip_ms(subject, rows, repeats)
        result["compiled"] = ours(subject, target, occ, lim, repeats)
        with_compile("off")
    gradcam_map = gradcam(subject, target)["gradcam"]
    result["focus audio"] = timed(lambda: focus_clip(wave, subject.cfg.sample_rate, gradcam_map, FocusSettings()),
                                  repeats)
    return result


def dataset_throughput(device: torch.device, use_compile: bool, max_clips: int | None = None) -> dict | None:
    """Clips per second for the three methods over the demo test split (shipped demo cnn-eca)."""
    if not (DEMO_MODEL / "card.json").is_file() or not (ROOT / "assets" / "demo" / "manifest.csv").is_file():
        return None
    model, card = load(DEMO_MODEL, device=device)
    manifest = load_manifest(ROOT / "assets" / "demo")
    manifest = replace(manifest, rows=[r for r in manifest.rows if r.extra.get("split") == "test"])
    with_compile("auto" if use_compile else "off")
    started = time.perf_counter()
    result = analyze_dataset(model, card, manifest, methods=METHODS, device=str(device), max_clips=max_clips)
    seconds = time.perf_counter() - started
    with_compile("off")
    n = len(result.paths)
    return {"clips": n, "seconds": seconds, "clips_per_s": n / seconds}


def markdown(results: list[dict], throughput: dict | None, context: str) -> str:
    def s(value):
        return "-" if value is None else f"{value:.3f}"

    lines = [f"Setup: {context}.", ""]
    for r in results:
        floor = ", ".join(f"{k} {v:.1f} ms" for k, v in r["floor_ms"].items())
        compile_note = ""
        if "compile_s" in r:
            compile_note = (f"; compiling took {r['compile_s']:.1f} s{' (a package from the cache)' if r['compile_cached'] else ''}"
                            if not r["compile_failed"]
                            else f"; compile failed ({r['compile_failed']})")
        lines += [f"**{r['name']}**, input {r['shape'][0]} x {r['shape'][1]}; forward per clip: {floor}{compile_note}.",
                  "", "| method | captum default (s) | ours eager (s) | ours compiled (s) | speed-up eager | "
                  "speed-up compiled |", "|---|---|---|---|---|---|"]
        totals = {part: sum(r[part][m] for m in METHODS) for part in ("default", "eager", "compiled") if part in r}
        rows = {m: {part: r[part][m] for part in totals} for m in METHODS} | {"**all three**": totals}
        for label, row in rows.items():
            ratios = [f"{row['default'] / row[part]:.1f}x" if part in row else "-" for part in ("eager", "compiled")]
            lines.append(f"| {label} | {s(row['default'])} | {s(row['eager'])} | {s(row.get('compiled'))} | "
                         f"{ratios[0]} | {ratios[1]} |")
        if r["name"].startswith("paper"):
            best = totals["default"] / min(v for k, v in totals.items() if k != "default")
            lines += ["", f"Target (issue 14): all three at least {TARGET_SPEED_UP:g}x faster than captum's default "
                      f"use: {best:.1f}x, {'met' if best >= TARGET_SPEED_UP else 'not met'}."]
        lines += ["", f"- occlusion with plain batched forwards (no incremental inference): {r['plain occlusion']:.3f} s; "
                  f"LIME with plain forwards (no cell patterns): {r['plain lime']:.3f} s; "
                  f"LIME with all {LimeSettings().num_samples} samples (no convergence stop): {r['all samples']:.3f} s "
                  f"(stopped runs used {r['eager']['samples']}); lime_image default: {r['lime_image']:.3f} s; "
                  f"focus audio: {r['focus audio']:.4f} s.", ""]
    if throughput:
        lines.append(f"Dataset throughput (demo test split, {throughput['clips']} clips, Grad-CAM + occlusion + LIME, "
                     f"shipped demo cnn-eca): {throughput['clips_per_s']:.2f} clips/s ({throughput['seconds']:.1f} s).")
    return "\n".join(lines)


def run(device: str = "auto", repeats: int = 2, use_compile: bool = True, seconds: float = 3.0,
        max_clips: int | None = None) -> tuple[list[dict], dict | None, str]:
    target_device = devices.resolve(device)
    results = [model_rows(name, subject, wave, repeats, use_compile)
               for name, subject, wave in subjects(target_device, seconds)]
    throughput = dataset_throughput(target_device, use_compile, max_clips)
    context = (f"{seconds:g} s clip, device {target_device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
               f"ours best of {repeats}, captum and lime defaults once")
    return results, throughput, context


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-compile", action="store_true", help="Skip the compiled rows (no C++ compiler).")
    args = parser.parse_args()
    results, throughput, context = run(args.device, args.repeats, not args.no_compile)
    print(markdown(results, throughput, context))


if __name__ == "__main__":
    main()
