"""Two CPU processes under torchrun (DDP, gloo) train the same weights as one process on the same
global batches. The model is ``sdnn`` without its input BatchNorm and without dropout: on CPU,
BatchNorm statistics stay per process (PyTorch 2.11's SyncBatchNorm refuses CPU tensors), and
dropout masks are drawn per process, so those two are the documented differences."""

import json
import os
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file

from core.training import TrainConfig, fit

ROOT = Path(__file__).resolve().parents[3]
TORCHRUN = Path(sys.executable).parent / "torchrun"
MODEL_CFG = {"hidden": [32, 16], "dropout": 0.0, "input_norm": False}


def test_two_gloo_processes_train_what_one_process_trains(demo_root, demo_train, tmp_path):
    # Batch 7 over 8 clips: the first global batch splits 4 + 3 between the ranks, the second
    # (one clip) leaves rank 1 empty, which then runs a zero-weight item.
    command = [str(TORCHRUN), "--standalone", "--nproc-per-node", "2", "-m", "core.cli", "train",
               "--model", "sdnn", "--model-cfg", "hidden=[32,16]", "dropout=0", "input_norm=false",
               "--corpus", str(demo_root), "--out", str(tmp_path / "ddp"), "--epochs", "3", "--batch-size", "7",
               "--lr", "0.01", "--seconds", "1.0", "--device", "cpu", "--quiet"]
    ddp = subprocess.Popen(command, cwd=ROOT, env=os.environ | {"OMP_NUM_THREADS": "1"},
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    single = fit(demo_train, TrainConfig(model="sdnn", model_cfg=MODEL_CFG, epochs=3, batch_size=7, lr=0.01,
                                         seconds=1.0, device="cpu"), tmp_path / "single", progress=False)
    out, err = ddp.communicate(timeout=240)
    assert ddp.returncode == 0, err[-3000:]

    card = json.loads((tmp_path / "ddp" / "model" / "card.json").read_text())
    assert card["training"]["world_size"] == 2
    weights = load_file(str(tmp_path / "ddp" / "model" / "model.safetensors"))
    expected = single.model.state_dict()
    assert weights.keys() == expected.keys()
    worst = max(float((weights[k] - v).abs().max()) for k, v in expected.items())
    print(f"largest weight difference, 2 gloo processes vs 1 process: {worst:.3g}")
    assert worst < 1e-6, worst
    ddp_history, single_history = card["metrics"]["history"], single.history
    for a, b in zip(ddp_history, single_history):
        assert abs(a["loss"] - b["loss"]) < 1e-6 and a["train_UA"] == b["train_UA"]
    assert out.count("wrote") == 1  # only rank 0 reports and writes
