"""Shared fixtures of the core tests."""

import csv

import numpy as np
import pytest
import soundfile
import torch

TONE_LABELS = ("angry", "happy", "neutral", "sad")


@pytest.fixture(scope="module")
def one_thread():
    """Small tensors run faster on one thread than on two busy cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tone_corpus(tmp_path_factory):
    """``make(name, shortest, step)``: 20 clips (4 emotions x 5, speakers s0/s1 alternating) of a tone per emotion
    in noise, clip ``i`` lasting ``shortest + step * i`` seconds, listed in a manifest.csv (no split column)."""

    def make(name: str, shortest: float, step: float):
        root = tmp_path_factory.mktemp(name)
        rng = np.random.default_rng(0)
        with open(root / "manifest.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "label", "speaker"])
            for e, label in enumerate(TONE_LABELS):
                for i in range(5):
                    t = np.arange(int((shortest + step * i) * 16_000)) / 16_000
                    wave = 0.3 * np.sin(2 * np.pi * (200 + 150 * e) * t) + 0.02 * rng.standard_normal(t.size)
                    soundfile.write(root / f"{label}{i}.wav", wave.astype(np.float32), 16_000)
                    writer.writerow([f"{label}{i}.wav", label, f"s{i % 2}"])
        return root

    return make
