"""Public VGGish / YAMNet weights (safetensors, reference names) into vggish, yamnet and fusion models.

The "public" files here are random weights under the reference names and shapes, written from
full-size registry models: torchvggish's ``features.*`` + ``embeddings.*`` and the YAMNet port's
``layer1..14.*`` + its 521-class ``classifier.*``.
"""

import csv
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from core import checkpoint, models
from core.cli import main
from core.errors import CheckpointError, ConfigError
from core.models.pretrained import load_pretrained
from core.training import TrainConfig

DEMO = Path(__file__).resolve().parents[3] / "assets" / "demo"


def _reference(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A registry model's trunk under the reference names (its classifier head left out)."""
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items() if not k.startswith("head.")}


@pytest.fixture(scope="module")
def vggish_file(tmp_path_factory) -> Path:
    torch.manual_seed(1)
    state = _reference(models.build("vggish", 4))  # width 1 with the 12288-4096-4096-128 embedding head
    assert any(k.startswith("embeddings.") for k in state)
    path = tmp_path_factory.mktemp("public") / "vggish.safetensors"
    save_file(state, str(path))
    return path


@pytest.fixture(scope="module")
def yamnet_file(tmp_path_factory) -> Path:
    torch.manual_seed(2)
    state = _reference(models.build("yamnet", 4))
    state |= {"classifier.weight": torch.randn(521, 1024), "classifier.bias": torch.randn(521)}
    path = tmp_path_factory.mktemp("public") / "yamnet.safetensors"
    save_file(state, str(path))
    return path


def _save_variant(path: Path, source: Path, drop: str | None = None, reshape: str | None = None) -> Path:
    state = load_file(str(source))
    if drop:
        del state[drop]
    if reshape:
        state[reshape] = torch.zeros(*state[reshape].shape[:-1], state[reshape].shape[-1] + 1)
    save_file(state, str(path))
    return path


def test_a_full_vggish_model_loads_the_public_weights_strictly(vggish_file):
    model = models.build("vggish", 4)
    head = {k: v.clone() for k, v in model.head.state_dict().items()}
    report = load_pretrained(model, "vggish", vggish_file)
    state = load_file(str(vggish_file))
    own = model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in state.items())
    assert all(torch.equal(model.head.state_dict()[k], v) for k, v in head.items())  # the new head is untouched
    assert report["loaded"] == len(state) == 18 and report["ignored"] == 0 and report["into"] == "model"
    assert report["sha256"] == checkpoint.sha256_file(vggish_file) and report["path"] == str(vggish_file.resolve())


def test_a_full_yamnet_model_drops_the_ports_audioset_classifier(yamnet_file):
    model = models.build("yamnet", 4)
    report = load_pretrained(model, "yamnet", yamnet_file)
    state = load_file(str(yamnet_file))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items() if not k.startswith("classifier."))
    assert report["ignored"] == 2 and report["loaded"] == len(state) - 2


def test_a_width_1_fusion_model_takes_both_branches_and_ignores_what_they_lack(vggish_file, yamnet_file):
    model = models.build("fusion", 4)
    head = {k: v.clone() for k, v in model.head.state_dict().items()}
    for branch, path in (("vggish", vggish_file), ("yamnet", yamnet_file)):
        state = load_file(str(path))
        report = load_pretrained(model, branch, path)
        part = getattr(model, f"{branch}_branch").state_dict()
        assert all(torch.equal(v, state[k]) for k, v in part.items())
        lacking = set(state) - set(part)
        assert report["ignored"] == len(lacking) > 0 and report["loaded"] == len(part)
        assert report["into"] == f"{branch}_branch"
        prefixes = {"vggish": ("embeddings.",), "yamnet": ("layer13.", "layer14.", "classifier.")}[branch]
        assert all(k.startswith(prefixes) for k in lacking)
    assert all(torch.equal(model.head.state_dict()[k], v) for k, v in head.items())


def test_a_narrow_model_cannot_take_the_public_weights(vggish_file, yamnet_file):
    with pytest.raises(CheckpointError, match=r"width=1") as info:
        load_pretrained(models.build("fusion", 4, width=0.25), "vggish", vggish_file)
    assert "width=0.25" in str(info.value)
    with pytest.raises(CheckpointError, match=r"width=1"):
        load_pretrained(models.build("yamnet", 4, width=0.25), "yamnet", yamnet_file)


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("suffix", [".pt", ".pkl"])
def test_pickle_files_are_refused_without_being_opened(tmp_path, suffix):
    marker = tmp_path / "unpickled"
    path = tmp_path / f"vggish{suffix}"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(CheckpointError, match="convert it to safetensors"):
        load_pretrained(models.build("fusion", 4), "vggish", path)
    assert not marker.exists()


def test_missing_extra_or_misshapen_tensors_are_named(tmp_path, yamnet_file):
    model = models.build("fusion", 4)
    missing = _save_variant(tmp_path / "missing.safetensors", yamnet_file, drop="layer3.pointwise_conv.conv.weight")
    with pytest.raises(CheckpointError, match=r"missing in the file: layer3\.pointwise_conv\.conv\.weight"):
        load_pretrained(model, "yamnet", missing)
    misshapen = _save_variant(tmp_path / "shape.safetensors", yamnet_file, reshape="layer5.depthwise_conv.bn.bias")
    with pytest.raises(CheckpointError,
                       match=r"shapes differ: layer5\.depthwise_conv\.bn\.bias: file \(129,\) vs model \(128,\)"):
        load_pretrained(model, "yamnet", misshapen)
    with pytest.raises(CheckpointError, match=r"layer3\.pointwise_conv\.conv\.weight"):  # the strict loader's path
        load_pretrained(models.build("yamnet", 4), "yamnet", missing)
    foreign = load_file(str(yamnet_file)) | {"layer15.conv.weight": torch.zeros(1)}
    save_file(foreign, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(CheckpointError, match=r"not in the model: layer15\.conv\.weight"):
        load_pretrained(model, "yamnet", tmp_path / "foreign.safetensors")
    with pytest.raises(CheckpointError, match="No pretrained weights file"):
        load_pretrained(model, "yamnet", tmp_path / "absent.safetensors")


def test_models_without_the_branch_are_refused(yamnet_file):
    with pytest.raises(ConfigError, match="has no yamnet branch"):
        load_pretrained(models.build("vggish", 4, width=0.25, embeddings=False), "yamnet", yamnet_file)
    with pytest.raises(ConfigError, match="cannot start from public"):
        load_pretrained(models.build("cnn", 4), "vggish", yamnet_file)


def test_train_config_records_the_pretrained_pairs():
    cfg = TrainConfig(model="fusion", pretrained=[["vggish", "v.safetensors"], ("yamnet", "y.safetensors")])
    assert cfg.pretrained == (("vggish", "v.safetensors"), ("yamnet", "y.safetensors"))
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.to_dict()["pretrained"] == [["vggish", "v.safetensors"], ["yamnet", "y.safetensors"]]
    for bad in ([("resnet", "r.safetensors")], [("vggish", "a"), ("vggish", "b")], ["vggish"]):
        with pytest.raises(ConfigError, match="pretrained"):
            TrainConfig(model="fusion", pretrained=bad)


def _demo_slice(root: Path) -> Path:
    """Four training clips (one per emotion) and two test clips of the shipped demo corpus."""
    with open(DEMO / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    chosen = [r for r in rows if r["speaker"] == "demo-01" and r["split"] == "train"][:4]
    chosen += [r for r in rows if r["speaker"] == "demo-13" and r["split"] == "test"][:2]
    root.mkdir()
    with open(root / "manifest.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "speaker", "split"])
        for i, r in enumerate(chosen):
            shutil.copyfile(DEMO / r["path"], root / f"clip{i}.wav")
            writer.writerow([f"clip{i}.wav", r["label"], r["speaker"], r["split"]])
    return root


def test_serwb_train_starts_from_pretrained_weights_and_resume_does_not_reread_them(tmp_path, vggish_file, capsys):
    corpus = _demo_slice(tmp_path / "corpus")
    public = tmp_path / "vggish.safetensors"
    shutil.copyfile(vggish_file, public)
    out = tmp_path / "run"
    argv = ["train", "--model", "fusion", "--corpus", str(corpus), "--out", str(out),
            "--pretrained", f"vggish={public}", "--model-cfg", "hidden=8", "--batch-size", "4", "--seconds", "1.0",
            "--lr", "1e-9", "--device", "cpu", "--quiet"]
    assert main([*argv, "--epochs", "1"]) == 0
    assert "12 tensors loaded into vggish_branch, 6 ignored" in capsys.readouterr().out
    model, card = checkpoint.load(out / "model", device="cpu")
    assert card.training["pretrained"] == [["vggish", str(public)]]
    (record,) = card.training["pretrained_weights"]
    assert record == {"branch": "vggish", "path": str(public.resolve()), "sha256": checkpoint.sha256_file(public),
                      "into": "vggish_branch", "loaded": 12, "ignored": 6}
    state = load_file(str(public))  # lr 1e-9: the trained branch is still the file's
    for k, v in model.vggish_branch.state_dict().items():
        torch.testing.assert_close(v, state[k], rtol=0, atol=1e-6)

    public.unlink()  # a resumed run takes the weights from its checkpoint and never opens the file again
    assert main([*argv, "--epochs", "2", "--resume"]) == 0
    card = checkpoint.read_card(out / "model")
    assert card.training["epochs"] == 2 and card.training["pretrained_weights"] == [record]


def test_serwb_train_rejects_a_malformed_pretrained_option(tmp_path, capsys):
    for value in ("vggish", "resnet=x.safetensors", "yamnet="):
        assert main(["train", "--model", "fusion", "--corpus", str(tmp_path), "--out", str(tmp_path / "o"),
                     "--pretrained", value, "--quiet"]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("serwb: --pretrained expects BRANCH=PATH") and value in err
