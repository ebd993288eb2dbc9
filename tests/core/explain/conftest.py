"""A model with a known answer: cnn-eca trained to detect a patch planted at known bands and frames.

Class 1 spectrograms carry a bright patch (bands 20-35, frames 40-60) on noise; class 0 is
noise only. A faithful explanation of class 1 must point at the patch.
"""

import pytest
import torch
from planted_patch import BANDS, FRAMES, PATCH_BANDS, PATCH_FRAMES

from core.checkpoint import Card
from core.explain.subject import Subject
from core.features import PRESETS
from core.models import build

LABELS = ("absent", "present")


def planted_batch(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, BANDS, FRAMES, generator=generator)
    y = torch.randint(0, 2, (n,), generator=generator)
    x[y == 1, PATCH_BANDS, PATCH_FRAMES] += 3.0
    return x, y


@pytest.fixture(scope="session")
def planted_model():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = build("cnn-eca", num_classes=2, n=1)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(120):
        x, y = planted_batch(32, generator)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    x, y = planted_batch(200, generator)
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert accuracy > 0.95, f"the planted-patch model did not learn ({accuracy:.2f})"
    return model


@pytest.fixture
def planted_subject(planted_model):
    generator = torch.Generator().manual_seed(123)
    x = torch.randn(BANDS, FRAMES, generator=generator)
    x[PATCH_BANDS, PATCH_FRAMES] += 3.0
    return Subject(planted_model, x, PRESETS["stft-v8"], LABELS)


@pytest.fixture
def planted_card():
    return Card(model="cnn-eca", num_classes=2, labels=LABELS, features=PRESETS["stft-v8"], training={"seconds": 1.0})
