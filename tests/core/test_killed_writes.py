"""Writers killed (SIGKILL) mid-write leave the old whole state or the new whole state on disk, never half of one;
what a killed writer left behind is never read as data, and the next write sweeps it.

Each kill hits a forked child running the real write path (``checkpoint.save``, ``report.write``) in a loop, at
moments spread over a write or the moment a write is under way."""

import io
import json
import multiprocessing
import os
import time
from pathlib import Path

import matplotlib.image
import numpy as np
import torch

from core import checkpoint, models
from core.audio import load_audio
from core.explain import Settings, analyze, compiled, report
from core.models.cnn import CnnEca

ROOT = Path(__file__).resolve().parents[2]
DEMO_MODEL = ROOT / "assets" / "models" / "cnn-eca"
DEMO_CLIP = sorted((ROOT / "assets" / "demo" / "test").rglob("*.wav"))[0]
LABELS = ["angry", "happy", "neutral", "sad"]
KILLS = 12
STALE = time.time() - 2 * checkpoint.STALE_AFTER_S


def kill_times(one_write_s: float, spread: float) -> list[float]:
    """``KILLS`` moments spread evenly over ``spread`` writes: every stage of a write that takes a tenth of it or
    more, and the moment between two writes, is hit."""
    return [(k + 0.5) / KILLS * spread * one_write_s for k in range(KILLS)]


def killed(loop, when) -> None:
    """Run ``loop`` in a forked child, SIGKILL it as soon as ``when()`` is true, and reap it."""
    child = multiprocessing.get_context("fork").Process(target=loop, daemon=True)
    child.start()
    give_up = time.monotonic() + 120  # a forked child that hangs is killed all the same: never wait forever
    while child.is_alive() and not when() and time.monotonic() < give_up:
        time.sleep(0.0002)
    child.kill()
    child.join()


def after(seconds: float):
    deadline = time.monotonic() + seconds
    return lambda: time.monotonic() > deadline


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_checkpoint_killed_while_saving_is_the_old_one_or_the_new_one_and_its_leftovers_are_swept(tmp_path):
    torch.manual_seed(0)
    old, new = models.build("cnn-eca", 4, n=2), models.build("cnn-eca", 4, n=2)
    path = tmp_path / "model"
    one_save = timed(lambda: checkpoint.save(old, {"labels": LABELS}, path))
    states = [weights(old), weights(new)]

    def save_forever():
        torch.set_num_threads(1)
        while True:
            for model in (new, old):
                checkpoint.save(model, {"labels": LABELS}, path)

    def staged_whole():  # the new folder written, not yet in place
        return any(tmp_path.glob(".model.tmp-*/**/card.json"))

    for when in [after(seconds) for seconds in kill_times(one_save, spread=2.0)] + [staged_whole] * 3:
        killed(save_forever, when)
        loaded, _ = checkpoint.load(path, device="cpu")  # whole: the card's weights hash matches the weights
        got = loaded.state_dict()
        assert any(all(torch.equal(got[k], v) for k, v in state.items()) for state in states)
        offered = [p.name for p in tmp_path.iterdir() if (p / checkpoint.CARD).is_file()]
        assert offered == ["model"]  # a killed writer's staging folder is never a checkpoint of its own

    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".model.tmp-")]
    assert leftovers  # some kills landed mid-write
    for left in leftovers:
        os.utime(left, (STALE, STALE))
    fresh = tmp_path / ".model.tmp-of-a-writer-at-work"
    fresh.mkdir()
    checkpoint.save(new, {"labels": LABELS}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [fresh.name, "model"]


def test_a_writer_killed_between_the_two_renames_of_the_fallback_gets_the_old_folder_put_back(tmp_path):
    """Where the system cannot swap two folders in one step, the old one is moved aside before the new one is
    renamed in; a kill between the two leaves only the old one, aside, and the next write puts it back first."""
    path = tmp_path / "model"
    card = checkpoint.save(models.build("cnn", 4, n=1), {"labels": LABELS}, tmp_path / "saved")
    aside = tmp_path / ".model.tmp-killed"
    aside.mkdir()
    (tmp_path / "saved").rename(aside / "model.old")
    os.utime(aside, (STALE, STALE))
    checkpoint.sweep_stale(path)
    assert checkpoint.read_card(path) == card and sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_an_export_killed_while_writing_leaves_only_whole_files(tmp_path):
    model, card = checkpoint.load(DEMO_MODEL, "cpu")
    clip = load_audio(DEMO_CLIP)
    analysis = analyze(clip, model, card, methods=("gradcam",), settings=Settings(audio=False), device="cpu")
    out = tmp_path / "export"
    first, *_ = report.write(analysis, out)
    names = sorted(p.name for p in out.iterdir())

    def write_forever():
        torch.set_num_threads(1)
        while True:
            report.write(analysis, out)

    for _ in range(4):  # rendering takes far longer than writing: kill once the first file is written,
        before = first.stat().st_mtime_ns  # while the others are
        killed(write_forever, lambda: first.stat().st_mtime_ns != before)
        assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == names
        for name in names:  # each file parses to the end
            data = (out / name).read_bytes()
            if name.endswith(".png"):
                matplotlib.image.imread(io.BytesIO(data), format="png")
            elif name.endswith(".npz"):
                assert np.load(io.BytesIO(data))["spectrogram"].shape == analysis.spectrogram.shape
            else:
                assert json.loads(data)["clip_sha256"] == clip.sha256


def test_a_killed_compile_leaves_a_staging_folder_that_the_next_compile_sweeps(monkeypatch, tmp_path):
    monkeypatch.setenv("SERWB_CACHE", str(tmp_path))
    cache = compiled.cache_dir()
    stale, fresh = cache / ".staging-killed", cache / ".staging-at-work"
    for folder in (stale, fresh):
        folder.mkdir(parents=True)
        (folder / "package.pt2").write_bytes(b"half a package")
    old = time.time() - 2 * compiled.STALE_STAGING_S
    os.utime(stale, (old, old))
    entry = compiled.request(CnnEca(3, n=1).eval(), (2, 64, 40))  # fails at once: not made by core.models.build
    assert entry.ready.wait(60) and entry.forward is None
    assert sorted(p.name for p in cache.iterdir()) == [fresh.name]
