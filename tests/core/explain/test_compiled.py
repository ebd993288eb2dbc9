"""Compiled forwards: compiled in the background without blocking Grad-CAM, equal to eager, cached on disk."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from core.explain import compiled
from core.explain.gradcam import gradcam
from core.explain.subject import Subject
from core.features import PRESETS
from core.models import build

ROOT = Path(__file__).resolve().parents[3]
SECOND_PROCESS = """
import json, torch
from core.explain import compiled
from core.models import build
torch.manual_seed(0)
model = build("cnn-eca", 3, n=1).eval()
entry = compiled.request(model, (4, 64, 100))
entry.ready.wait(600)
x = torch.randn(4, 64, 100, generator=torch.Generator().manual_seed(3))
with torch.no_grad():
    error = float((entry.forward(x) - model(x)).abs().max())
print(json.dumps({"cached": entry.cached, "seconds": entry.seconds, "failed": entry.failed, "error": error}))
"""


def test_a_compiled_copy_is_made_in_the_background_and_agrees_with_eager(monkeypatch, tmp_path):
    monkeypatch.setenv("SERWB_COMPILE", "always")
    monkeypatch.setenv("SERWB_CACHE", str(tmp_path))
    torch.manual_seed(0)
    model = build("cnn-eca", 3, n=1).eval()
    features = torch.randn(64, 100, generator=torch.Generator().manual_seed(1))
    subject = Subject(model, features, PRESETS["stft-v8"], ("a", "b", "c"))
    batch = features + 0.1 * torch.randn(7, 64, 100, generator=torch.Generator().manual_seed(2))

    eager = subject.probabilities(batch, chunk=4)  # eager; the first full chunk asks for a (4, 64, 100) copy
    entry = compiled.request(model, (4, 64, 100))
    cam = gradcam(subject, 0)["gradcam"]  # the first Grad-CAM never waits for the compiler (a child process)
    assert not entry.ready.is_set() and cam.values.shape == (64, 100)

    assert entry.ready.wait(600) and entry.failed is None, entry.failed
    assert not entry.cached and [p.name for p in compiled.cache_dir().iterdir()] == [
        compiled.package_name(model, (4, 64, 100), torch.float32, torch.device("cpu"))]  # no staged leftovers
    assert compiled.compiled_for(model, (4, 64, 100)) is entry
    calls, real = [], entry.forward
    entry.forward = lambda x: calls.append(tuple(x.shape)) or real(x)
    again = subject.probabilities(batch, chunk=4)  # 4 + 3 rows: the short chunk is padded to the compiled shape
    assert calls == [(4, 64, 100), (4, 64, 100)]
    np.testing.assert_allclose(again.numpy(), eager.numpy(), rtol=1e-4, atol=1e-6)

    # A second process with the same weights loads the package from disk instead of compiling (the package is
    # not written again; how much faster that is, is bench/'s business, not a timed unit test's).
    [package] = compiled.cache_dir().iterdir()
    written = package.stat().st_mtime_ns
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SECOND_PROCESS], env=env, capture_output=True, text=True,
                         timeout=900, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    second = json.loads(out.stdout.strip().splitlines()[-1])
    assert second["failed"] is None and second["cached"] is True and second["error"] < 1e-5
    assert [p.name for p in compiled.cache_dir().iterdir()] == [package.name]
    assert package.stat().st_mtime_ns == written

    other = build("cnn-eca", 3, n=1).eval()  # other weights: another package
    assert compiled.package_name(other, (4, 64, 100), torch.float32, torch.device("cpu")) != \
        compiled.package_name(model, (4, 64, 100), torch.float32, torch.device("cpu"))


def test_a_model_not_made_by_build_stays_eager_and_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("SERWB_CACHE", str(tmp_path))
    from core.models.cnn import CnnEca

    entry = compiled.request(CnnEca(3, n=1).eval(), (2, 64, 40))
    assert entry.ready.wait(60) and entry.forward is None and "core.models.build" in entry.failed


def test_off_never_compiles(monkeypatch):
    monkeypatch.setenv("SERWB_COMPILE", "off")
    model = build("cnn-eca", 3, n=1).eval()
    subject = Subject(model, torch.randn(64, 50), PRESETS["stft-v8"], ("a", "b", "c"))
    subject.probabilities(torch.randn(4, 64, 50), chunk=4)
    assert (4, 64, 50) not in compiled._COPIES.get(model, {})


def test_small_models_are_not_compiled_in_auto_mode(monkeypatch):
    monkeypatch.setenv("SERWB_COMPILE", "auto")
    monkeypatch.setattr(compiled, "PAYS_FROM_PARAMETERS", 10**9)  # no model is big enough to pay for a compile
    model = build("cnn-eca", 3, n=1).eval()
    subject = Subject(model, torch.randn(64, 50), PRESETS["stft-v8"], ("a", "b", "c"))
    subject.probabilities(torch.randn(4, 64, 50), chunk=4)
    assert (4, 64, 50) not in compiled._COPIES.get(model, {})
    monkeypatch.setattr(compiled, "PAYS_FROM_PARAMETERS", 0)  # every model pays: the first full chunk asks
    monkeypatch.setattr(compiled, "request", lambda *a, **k: asked.append(a[1]))
    asked = []
    subject.probabilities(torch.randn(4, 64, 50), chunk=4)
    assert asked == [(4, 64, 50)]
