"""Training throughput (clips/s): features on the device, forward, focal loss, backward, Adam step.

Per model, batches of 36 three-second clips from the shipped demo corpus; on CUDA, fp32 and
mixed precision side by side in the same run (the loop's own autocast/GradScaler choice).

    .venv/bin/python -m bench.train [--device auto] [--steps 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from core import devices
from core.audio import fix_length, load_audio
from core.data.corpora import load_manifest
from core.features import frontend, preset
from core.models import build, demo_config, spec
from core.training.loop import autocast_for
from core.training.losses import FocalLoss

ROOT = Path(__file__).resolve().parent.parent
MODELS = (("cnn-eca", "demo"), ("cnn-eca", "paper"), ("fusion", "demo"), ("cnn-atn", "demo"), ("cnn3d", "demo"))


def demo_waves(batch: int, seconds: float = 3.0, sr: int = 16_000) -> tuple[torch.Tensor, torch.Tensor]:
    rows = load_manifest(ROOT / "assets" / "demo").filter(split="train").rows[:batch]
    labels = sorted({r.label for r in rows})
    waves = torch.stack([fix_length(load_audio(r.path).wave, int(seconds * sr)) for r in rows])
    return waves, torch.tensor([labels.index(r.label) for r in rows])


def throughput(name: str, size: str, waves: torch.Tensor, targets: torch.Tensor, device: torch.device,
               amp: str, steps: int) -> float:
    """Clips per second over ``steps`` training steps after one warm-up step."""
    torch.manual_seed(0)
    model = build(name, 4, **(demo_config(name) if size == "demo" else {})).to(device).train()
    make_features = frontend(preset(spec(name).feature_preset), device)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = FocalLoss(gamma=2.0).to(device)
    autocast, scaler = autocast_for(amp, device)
    waves, targets = waves.to(device), targets.to(device)

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        with torch.no_grad():
            features = make_features(waves)
        with autocast():
            loss = loss_fn(model(features), targets)
        if scaler:
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
        else:
            loss.backward()
            optimiser.step()

    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * len(waves) / (time.perf_counter() - started)


def run(device: str = "auto", steps: int = 5, batch: int = 36) -> tuple[list[dict], str]:
    target = devices.resolve(device)
    waves, targets = demo_waves(batch)
    modes = ("off", "auto") if target.type == "cuda" else ("off",)
    rows = []
    for name, size in MODELS:
        row = {"model": f"{name} ({size})"}
        for amp in modes:
            row[amp] = throughput(name, size, waves, targets, target, amp, steps)
        rows.append(row)
    name = torch.cuda.get_device_name(target) if target.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    return rows, f"{name}; batch {batch} x 3 s clips, {steps} steps after one warm-up"


def markdown(rows: list[dict], context: str) -> str:
    mixed = any("auto" in r for r in rows)
    head = "| model | fp32 (clips/s) |" + (" mixed precision (clips/s) | speed-up |" if mixed else "")
    lines = [f"Setup: {context}.", "", head, "|---|---|" + ("---|---|" if mixed else "")]
    for r in rows:
        line = f"| {r['model']} | {r['off']:.1f} |"
        if mixed:
            line += f" {r['auto']:.1f} | {r['auto'] / r['off']:.2f}x |"
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    print(markdown(*run(args.device, args.steps)))


if __name__ == "__main__":
    main()
