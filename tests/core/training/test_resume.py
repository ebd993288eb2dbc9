"""Kill a real training run (SIGKILL) right after its first epoch checkpoint, resume it, and
compare the final weights bit for bit with a run that was never interrupted."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from core.training import TrainConfig, fit

ROOT = Path(__file__).resolve().parents[3]
SETTINGS = dict(model="cnn", model_cfg={"n": 1}, epochs=4, batch_size=4, seconds=1.0, device="cpu")


def train_command(corpus, out, *extra):
    """The CLI spelling of SETTINGS (every other setting at its default on both sides)."""
    return [sys.executable, "-m", "core.cli", "train", "--model", "cnn", "--model-cfg", "n=1", "--corpus", str(corpus),
            "--out", str(out), "--epochs", "4", "--batch-size", "4", "--seconds", "1.0", "--device", "cpu",
            "--quiet", *extra]


def kill_after_first_checkpoint(process: subprocess.Popen, pointer: Path, outcome: dict) -> None:
    deadline = time.monotonic() + 150
    while not pointer.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    outcome["returncode"] = process.wait()


def test_a_killed_run_resumes_to_the_same_weights(demo_root, demo_train, tmp_path):
    env = os.environ | {"OMP_NUM_THREADS": str(torch.get_num_threads())}  # same threads as this process
    killed = subprocess.Popen(train_command(demo_root, tmp_path / "killed"), cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    pointer = tmp_path / "killed" / "checkpoints" / "LATEST"
    outcome: dict = {}
    watcher = threading.Thread(target=kill_after_first_checkpoint, args=(killed, pointer, outcome))
    watcher.start()
    # Meanwhile, the uninterrupted reference run (in this process, same settings as the CLI's).
    reference = fit(demo_train, TrainConfig(**SETTINGS), tmp_path / "whole", progress=False)
    watcher.join()
    assert outcome["returncode"] == -signal.SIGKILL, killed.stderr.read().decode()[-2000:]
    stopped_at = pointer.read_text().strip()
    assert stopped_at in {"epoch-0001", "epoch-0002", "epoch-0003"}, stopped_at
    assert not (tmp_path / "killed" / "model").exists()

    resumed = subprocess.run(train_command(demo_root, tmp_path / "killed", "--resume"), cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr

    final = load_file(str(tmp_path / "killed" / "model" / "model.safetensors"))
    expected = reference.model.state_dict()
    assert final.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(final[key], value), key
    history = reference.history
    from core.checkpoint import read_card

    assert read_card(tmp_path / "killed" / "model").metrics["history"] == history
