"""Speaker adaptation (AdaBN) and speaker batches: statistics from the speaker's own clips, the model untouched."""

import math
import shutil

import pytest
import torch

from core import models
from core.errors import ConfigError
from core.features import frontend, preset
from core.training.adapt import adapted, batchnorms, predict_per_speaker
from core.training.loop import _epoch_batches

MFCC = preset("mfcc40")


def _voices(n: int = 12, seconds: float = 1.0, seed: int = 0) -> torch.Tensor:
    """Noisy harmonic clips, each its own pitch: enough energy in every band that a gain shifts every dB value."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * 16_000)) / 16_000
    f0 = 110 + 60 * torch.rand(n, 1, generator=g)
    wave = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 6))
    return (0.1 * wave + 0.01 * torch.randn(n, t.numel(), generator=g)).float()


def _mfcc_model(seed: int = 0):
    torch.manual_seed(seed)
    model = models.build("cnn-atn", 3, channels=[8, 8], kernel=3, attn_dim=8)  # input_norm: BatchNorm1d on the MFCCs
    model.train()
    with torch.no_grad():  # training-like running statistics, far from any one speaker's
        for _ in range(3):
            model(frontend(MFCC)(_voices(8, seed=seed + 1) * 3.0))
    return model.eval()


def test_adapted_statistics_are_the_speakers_own_and_the_model_is_untouched():
    model = _mfcc_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = frontend(MFCC)(_voices())
    inputs, outputs = {}, {}
    clone = adapted(model, [x])
    def record(layer, args, out):
        inputs[layer], outputs[layer] = args[0], out

    hooks = [m.register_forward_hook(record) for m in batchnorms(clone)]
    first, second = clone(x), clone(x)
    for h in hooks:
        h.remove()
    assert torch.equal(first, second)  # eval mode: dropout off, statistics frozen after adaptation
    for layer in batchnorms(clone):  # each layer's statistics are those of its own input on these clips
        seen = inputs[layer].transpose(0, 1).reshape(layer.num_features, -1)
        assert torch.allclose(layer.running_mean, seen.mean(1), atol=1e-4)
        assert torch.allclose(layer.running_var, seen.var(1, unbiased=True), rtol=1e-3, atol=1e-5)
        out = outputs[layer].transpose(0, 1).reshape(layer.num_features, -1)
        assert torch.allclose(out.mean(1), layer.bias, atol=1e-3)  # normalised relative to this speaker
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not model.training


def test_a_speakers_gain_is_removed_by_adaptation_and_not_without_it():
    """A louder speaker (every clip x 4, +12 dB) moves MFCC c0 by a constant: the model's input BatchNorm adapted to
    that speaker removes it, so both speakers' clips get the same logits; the unadapted model tells them apart."""
    model = _mfcc_model()
    waves = _voices()
    both = torch.cat([waves, 4.0 * waves])
    speakers = ["quiet"] * len(waves) + ["loud"] * len(waves)
    logits, report = predict_per_speaker(model, both, speakers, MFCC, device="cpu")
    assert torch.allclose(logits[:len(waves)], logits[len(waves):], atol=1e-3)
    assert report["speakers"] == {"loud": 12, "quiet": 12} and report["unadapted"] == {}
    with torch.no_grad():
        plain = model(frontend(MFCC)(both))
    assert (plain[:len(waves)] - plain[len(waves):]).abs().max() > 0.05
    # the clips come back in their own order: adapting each speaker alone gives the same logits
    alone, _ = predict_per_speaker(model, 4.0 * waves, ["loud"] * len(waves), MFCC, device="cpu")
    assert torch.allclose(alone, logits[len(waves):], atol=1e-5)


def test_too_few_clips_keep_the_trained_statistics_and_unnamed_speakers_are_refused():
    model = _mfcc_model()
    waves = _voices(14)
    logits, report = predict_per_speaker(model, waves, ["b"] * 3 + ["a"] * 11, MFCC, device="cpu")
    with torch.no_grad():
        plain = model(frontend(MFCC)(waves[:3]))
    assert torch.allclose(logits[:3], plain, atol=1e-5) and report["unadapted"] == {"b": 3}
    unnamed, report = predict_per_speaker(model, waves, ["unknown"] * 14, MFCC, device="cpu")  # no one to adapt to
    with torch.no_grad():
        assert torch.allclose(unnamed, model(frontend(MFCC)(waves)), atol=1e-5) and report["unadapted"] == {"unknown": 14}
    with pytest.raises(ConfigError, match="no BatchNorm"):
        adapted(torch.nn.Linear(3, 3), [torch.zeros(2, 3)])


def test_speaker_batches_hold_one_speaker_each_and_cover_every_item_once():
    speakers = torch.tensor([0] * 37 + [1] * 10 + [2] * 73)
    batches = _epoch_batches(len(speakers), 36, torch.Generator().manual_seed(3), speakers)
    assert sorted(torch.cat(batches).tolist()) == list(range(len(speakers)))
    assert all(len(speakers[b].unique()) == 1 for b in batches)
    assert max(len(b) for b in batches) <= 36 and min(len(b) for b in batches) >= 10  # 37 -> 19 + 18, never 36 + 1
    assert len({tuple(speakers[b[:1]].tolist()) for b in batches[:3]}) > 1 or len(batches) <= 3  # speakers mixed
    plain = _epoch_batches(len(speakers), 36, torch.Generator().manual_seed(3))
    reference = torch.randperm(len(speakers), generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.cat(plain), reference) and [len(b) for b in plain] == [36, 36, 36, 12]


def test_serwb_train_with_speaker_batches_records_them_and_evaluation_adapts(tone_corpus, tmp_path, capsys):
    import json

    from core import checkpoint
    from core.cli import main

    corpus, out = tone_corpus("speakers", 0.6, 0.15), tmp_path / "run"  # speakers s0 (12 clips) and s1 (8)
    assert main(["train", "--model", "cnn-eca", "--model-cfg", "n=1", "--corpus", str(corpus), "--out", str(out),
                 "--epochs", "1", "--batch-size", "4", "--seconds", "1.0", "--speaker-batches", "--device", "cpu",
                 "--quiet"]) == 0
    card = checkpoint.read_card(out / "model")
    assert card.training["speaker_batches"] is True
    held_out = json.loads((out / "metrics.json").read_text())["held_out"]
    assert len(held_out["adaptation"]["speakers"]) == 1 and held_out["adaptation"]["unadapted"] == {}
    results = []
    for flag, adapted_there in (([], True), (["--no-adapt-speakers"], False)):
        assert main(["evaluate", str(out / "model"), "--corpus", str(corpus), "--out", str(tmp_path / "ev"),
                     "--device", "cpu", "--quiet", *flag]) == 0
        result = json.loads((tmp_path / "ev" / "metrics.json").read_text())
        results.append(result)
        assert ("adaptation" in result) == adapted_there
        assert ("(AdaBN): 2 of 2 speakers" in capsys.readouterr().out) == adapted_there
        if adapted_there:
            assert result["adaptation"]["speakers"] == {"s0": 12, "s1": 8}
    # the adapted run also scores the trained statistics, as the unadapted run does
    assert results[0]["unadapted"]["UA"] == results[1]["UA"] and "unadapted" not in results[1]
    assert results[0]["unadapted"]["per_class_recall"] == results[1]["per_class_recall"]
    unnamed = tmp_path / "unnamed"  # the same clips in a manifest without a speaker column
    unnamed.mkdir()
    rows = [line.split(",")[:2] for line in (corpus / "manifest.csv").read_text().splitlines()]
    (unnamed / "manifest.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    for name, _ in rows[1:]:
        shutil.copy(corpus / name, unnamed / name)
    assert main(["evaluate", str(out / "model"), "--corpus", str(unnamed), "--out", str(tmp_path / "ev2"),
                 "--device", "cpu", "--quiet"]) == 0  # adapting by default: clips of no named speaker as trained
    assert json.loads((tmp_path / "ev2" / "metrics.json").read_text())["adaptation"]["unadapted"] == {"unknown": 20}
    assert main(["evaluate", str(out / "model"), "--corpus", str(unnamed), "--out", str(tmp_path / "ev3"),
                 "--device", "cpu", "--quiet", "--adapt-speakers"]) == 1
    assert "names no speakers" in capsys.readouterr().err


def test_speaker_independent_folds_report_adapted_and_clip_by_clip_scores_and_both_baselines(tone_corpus, tmp_path):
    import json

    from core.cli import main

    corpus, out = tone_corpus("folds", 0.6, 0.15), tmp_path / "run"
    assert main(["train", "--model", "cnn-eca", "--model-cfg", "n=1", "--corpus", str(corpus), "--out", str(out),
                 "--epochs", "1", "--batch-size", "4", "--seconds", "1.0", "--speaker-batches", "--folds", "2",
                 "--grouped", "--baseline", "egemaps", "--device", "cpu", "--quiet"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    cv = report["cv"]
    assert cv["protocol"].startswith("leave-one-speaker-out (2 speakers); ") and "AdaBN" in cv["protocol"]
    for fold in cv["folds"]:  # each fold: its adapted scores, and the same clips with the trained statistics
        assert fold["adaptation"]["unadapted"] == {}
        assert set(fold["unadapted"]) == {"UA", "WA", "ACC", "F1", "per_class_recall"}
    assert cv["unadapted"]["mean"]["UA"] == pytest.approx(sum(f["unadapted"]["UA"] for f in cv["folds"]) / 2)
    plain, normed = report["baseline"], report["baseline_speaker_norm"]
    assert normed["speaker_norm"] and not plain["speaker_norm"]
    assert [f["test_speakers"] for f in normed["folds"]] == [f["test_speakers"] for f in cv["folds"]]
