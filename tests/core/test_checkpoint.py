"""Checkpoints: safetensors + JSON card, rebuilt through the registry; pickles are refused unopened."""

import hashlib
import json
import os
import pickle
from datetime import datetime

import pytest
import torch

from core import __version__, checkpoint, models
from core.errors import CheckpointError
from core.features import PRESETS, num_frames

LABELS = ["angry", "happy", "neutral", "sad"]


def small(name: str, num_classes: int = 4) -> torch.nn.Module:
    torch.manual_seed(0)
    return models.build(name, num_classes, **models.demo_config(name))


def example_input(model: torch.nn.Module, batch: int = 2) -> torch.Tensor:
    feat = PRESETS[model.spec.feature_preset]
    frames = max(model.spec.min_frames, num_frames(16_000, feat))  # a one-second clip
    return torch.randn(batch, feat.n_bands, frames, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def saved(tmp_path):
    model = small("cnn")
    card = checkpoint.save(model, {"labels": LABELS, "metrics": {"held_out": {"UA": 0.5}},
                                   "data": {"fingerprint": "abc"}, "training": {"epochs": 3}}, tmp_path / "ckpt")
    return model, card, tmp_path / "ckpt"


@pytest.mark.parametrize("name", models.available())
def test_save_then_load_gives_identical_outputs_for_every_registered_model(name, tmp_path):
    model = small(name).eval()
    x = example_input(model)
    with torch.no_grad():
        expected = model(x)
    card = checkpoint.save(model, {"labels": LABELS}, tmp_path / name)
    loaded, loaded_card = checkpoint.load(tmp_path / name, device="cpu")
    assert type(loaded) is type(model) and not loaded.training
    assert loaded_card == card and loaded_card.model == name and dict(loaded_card.model_config) == model.config
    with torch.no_grad():
        assert torch.equal(loaded(x), expected)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_card_holds_what_rebuilds_and_describes_the_model(saved):
    model, card, path = saved
    data = json.loads((path / "card.json").read_text())
    assert data["format"] == checkpoint.FORMAT
    assert data["model"] == {"name": "cnn", "config": model.config, "num_classes": 4}
    assert data["labels"] == LABELS
    assert data["features"]["preset"] == "stft-v8" and data["features"]["config"] == PRESETS["stft-v8"].to_dict()
    assert data["metrics"] == {"held_out": {"UA": 0.5}} and data["training"] == {"epochs": 3}
    assert data["serwb_version"] == __version__
    assert datetime.fromisoformat(data["created_at"].replace("Z", "+00:00")).tzinfo is not None
    assert data["weights_sha256"] == hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
    assert sorted(p.name for p in path.iterdir()) == ["card.json", "model.safetensors"]
    assert checkpoint.read_card(path).features == PRESETS["stft-v8"]


def test_checkpoint_hash_is_stable_and_follows_the_weights(saved, tmp_path):
    model, _, path = saved
    first = checkpoint.checkpoint_hash(path)
    checkpoint.save(model, {"labels": LABELS}, tmp_path / "again")  # other card metadata, same weights
    assert checkpoint.checkpoint_hash(tmp_path / "again") == first
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    checkpoint.save(model, {"labels": LABELS}, tmp_path / "changed")
    assert checkpoint.checkpoint_hash(tmp_path / "changed") != first


def test_missing_checkpoint_and_missing_files_say_what_to_do(tmp_path, saved):
    with pytest.raises(CheckpointError, match="No checkpoint"):
        checkpoint.load(tmp_path / "nowhere")
    _, _, path = saved
    (path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        checkpoint.load(path)
    (path / "card.json").unlink()
    with pytest.raises(CheckpointError, match="no card.json"):
        checkpoint.load(path)


def _edit_card(path, edit):
    data = json.loads((path / "card.json").read_text())
    edit(data)
    (path / "card.json").write_text(json.dumps(data))


def test_unknown_model_in_card(saved):
    _, _, path = saved
    _edit_card(path, lambda d: d["model"].update(name="resnet-9000"))
    with pytest.raises(CheckpointError, match="resnet-9000.*Known models: .*cnn-eca"):
        checkpoint.load(path)


def test_shape_mismatch_names_the_tensors(saved):
    _, _, path = saved
    _edit_card(path, lambda d: d["model"]["config"].update(n=2))  # twice the channels of the weights
    with pytest.raises(CheckpointError, match=r"shapes differ: blocks\.0\.bn\.bias: checkpoint \(16,\) vs model \(32,\)"):
        checkpoint.load(path)


def test_weights_hash_mismatch(saved, tmp_path):
    _, _, path = saved
    other = small("cnn")
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(2)
    checkpoint.save(other, {"labels": LABELS}, tmp_path / "other")
    (path / "model.safetensors").write_bytes((tmp_path / "other" / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="does not match its card: SHA-256"):
        checkpoint.load(path)


def test_broken_card_json(saved):
    _, _, path = saved
    (path / "card.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        checkpoint.load(path)
    (path / "card.json").write_text(json.dumps({"format": checkpoint.FORMAT, "labels": LABELS}))
    with pytest.raises(CheckpointError, match="not a valid serwb model card"):
        checkpoint.load(path)


class _Payload:
    """Unpickling this creates ``marker``: proof that a file was unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_the_pickle_payload_is_live(tmp_path):
    marker = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Payload(marker))).close()
    assert marker.exists()


@pytest.mark.parametrize("name", ["model.pt", "model.pth", "last.ckpt", "weights.pkl", "weights.bin"])
def test_pickle_files_are_refused_without_being_unpickled(tmp_path, name, saved):
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_Payload(marker))
    file = tmp_path / name
    file.write_bytes(payload)
    with pytest.raises(CheckpointError, match="never unpickles"):
        checkpoint.load(file)
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / name).write_bytes(payload)
    with pytest.raises(CheckpointError, match=f"{name}.*will not unpickle"):
        checkpoint.load(folder)
    _, _, path = saved  # a pickle posing as safetensors inside a real checkpoint folder
    (path / "model.safetensors").write_bytes(payload)
    with pytest.raises(CheckpointError):
        checkpoint.load(path, verify_hash=False)
    with pytest.raises(CheckpointError):
        checkpoint.load(path)
    assert not marker.exists()


def test_optimizer_state_round_trips_through_safetensors_and_json(tmp_path):
    model = small("sdnn")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.8, 0.95))
    model(example_input(model)).sum().backward()
    optimizer.step()
    state = {"optimizer": optimizer.state_dict(), "epoch": 3, "history": [{"loss": 0.5}], "nothing": None}
    checkpoint.save_state(tmp_path, "trainer", state)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trainer.json", "trainer.safetensors"]
    back = checkpoint.load_state(tmp_path, "trainer")
    assert back["epoch"] == 3 and back["history"] == [{"loss": 0.5}] and back["nothing"] is None
    restored = torch.optim.Adam(small("sdnn").parameters(), lr=1.0)
    restored.load_state_dict(back["optimizer"])
    ref, got = optimizer.state_dict(), restored.state_dict()
    assert got["param_groups"] == ref["param_groups"]
    for index, entry in ref["state"].items():
        for key, value in entry.items():
            assert torch.equal(got["state"][index][key], value)


def test_atomic_write_keeps_the_old_checkpoint_when_writing_fails(saved):
    _, card, path = saved

    def broken(folder):
        (folder / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        checkpoint.write_dir_atomically(path, broken)
    assert checkpoint.read_card(path) == card
    checkpoint.load(path)  # still whole
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


def test_a_saved_checkpoint_has_the_modes_of_an_ordinary_folder(saved, tmp_path):
    mask = os.umask(0)  # the test's own reading of the umask (safe here: one thread)
    os.umask(mask)
    path = saved[2]
    assert path.stat().st_mode & 0o777 == 0o777 & ~mask  # not mkdtemp's private 0700
    checkpoint.write_text_atomically(tmp_path / "LATEST", "epoch-0001\n")
    assert (tmp_path / "LATEST").stat().st_mode & 0o777 == 0o666 & ~mask
