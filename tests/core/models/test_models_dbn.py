"""S2's DBN (``core.models.dbn``): the RBM against scikit-learn's ``BernoulliRBM`` and torch's autograd, greedy
pre-training, the fine-tuned net on the RBM weights, the training loop's pre-training hook, and the ``s2-dbn``
preset (Mountzouris et al., Electronics 2023, section 3.1)."""


import numpy as np
import pytest
import torch
from sklearn.neural_network import BernoulliRBM
from torch import nn

from core import checkpoint, models, presets
from core.cli import main
from core.data.corpora import load_manifest
from core.models.dbn import DBN, RBM
from core.training.pretrain import pretrain_stage
from core.training import TrainConfig, fit


def rbm_with_sklearn_twin(n_visible=6, n_hidden=4, seed=0, weight_std=0.5):
    """Our float64 RBM and a scikit-learn BernoulliRBM holding the same random weights and biases."""
    rng = np.random.default_rng(seed)
    W = rng.normal(0, weight_std, (n_hidden, n_visible))
    c, b = rng.normal(0, 0.3, n_hidden), rng.normal(0, 0.3, n_visible)
    layer = nn.Linear(n_visible, n_hidden).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(W))
        layer.bias.copy_(torch.from_numpy(c))
    ours = RBM(layer, torch.from_numpy(b.copy()), "bernoulli", "bernoulli")
    theirs = BernoulliRBM(n_components=n_hidden, learning_rate=0.1)
    theirs.components_, theirs.intercept_hidden_, theirs.intercept_visible_ = W.copy(), c.copy(), b.copy()
    return ours, theirs


def test_the_bernoulli_rbm_agrees_with_scikit_learns():
    ours, theirs = rbm_with_sklearn_twin()
    v = (np.random.default_rng(1).random((10, 6)) < 0.4).astype(np.float64)
    vt = torch.from_numpy(v)
    # hidden means (sklearn's transform) and free energy
    np.testing.assert_allclose(ours.hidden_mean(vt).detach().numpy(), theirs.transform(v), rtol=1e-12)
    np.testing.assert_allclose(ours.free_energy(vt).detach().numpy(), theirs._free_energy(v), rtol=1e-12)

    # one update: sklearn's chain set to h0 ~ p(h | v) makes its step CD-1; both use the negative sample it draws
    theirs.h_samples_ = theirs._sample_hiddens(v, np.random.RandomState(0)).astype(np.float64)
    v_neg = theirs._sample_visibles(theirs.h_samples_, np.random.RandomState(1)).astype(np.float64)
    theirs._fit(v, np.random.RandomState(1))
    ours.update(vt, torch.from_numpy(v_neg), lr=0.1)
    np.testing.assert_allclose(ours.layer.weight.detach().numpy(), theirs.components_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours.layer.bias.detach().numpy(), theirs.intercept_hidden_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours.visible_bias.numpy(), theirs.intercept_visible_, rtol=1e-12, atol=1e-14)

    # sampling: our Gibbs step and reconstruction against sklearn's, averaged over 6000 draws of 5 clips (large
    # weights, so that a Gibbs step on hidden means instead of samples would be 0.07 off; sampling error ~0.01)
    ours, theirs = rbm_with_sklearn_twin(weight_std=2.0)
    reps, draws = np.repeat(v[:5], 6000, axis=0), (5, 6000, 6)
    theirs.random_state_ = np.random.RandomState(2)
    torch.manual_seed(2)
    ours_gibbs = ours.negative_sample(torch.from_numpy(reps)).reshape(draws).mean(1)
    np.testing.assert_allclose(ours_gibbs.numpy(), theirs.gibbs(reps).reshape(draws).mean(1), atol=0.035)
    their_recon = theirs._sample_visibles(theirs.transform(reps), np.random.RandomState(3)).reshape(draws).mean(1)
    np.testing.assert_allclose(ours.reconstruct(vt[:5]).detach().numpy(), their_recon, atol=0.035)


@pytest.mark.parametrize("visible,hidden", [("gaussian", "bernoulli"), ("gaussian", "relu"),
                                            ("bernoulli", "bernoulli"), ("relu", "relu")])
def test_the_cd1_update_is_minus_the_free_energy_gradient(visible, hidden):
    """For every unit kind: the update equals -lr * d/dtheta [mean F(v_pos) - mean F(v_neg)] (torch autograd)."""
    torch.manual_seed(0)
    layer = nn.Linear(5, 3).double()
    rbm = RBM(layer, torch.randn(5, dtype=torch.float64), visible, hidden)
    v_pos, v_neg = torch.randn(8, 5, dtype=torch.float64), torch.randn(8, 5, dtype=torch.float64)
    if visible != "gaussian":
        v_pos, v_neg = v_pos.relu(), v_neg.relu()
    b = rbm.visible_bias.clone().requires_grad_(True)
    probe = RBM(layer, b, visible, hidden)
    (probe.free_energy(v_pos).mean() - probe.free_energy(v_neg).mean()).backward()
    expected = [t.detach() - 0.1 * g for t, g in ((layer.weight, layer.weight.grad), (layer.bias, layer.bias.grad),
                                                  (b, b.grad))]
    rbm.update(v_pos, v_neg, lr=0.1)
    for got, want in zip((layer.weight, layer.bias, rbm.visible_bias), expected):
        torch.testing.assert_close(got.detach(), want, rtol=1e-12, atol=1e-12)


def structured_mfccs(n=64, frames=6, seed=0):
    """MFCC-like sequences whose clip means lie near a 3-dimensional subspace of the 40 coefficients."""
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(n, 3, generator=g) @ torch.randn(3, 40, generator=g) * 2 + 5
    return means[:, :, None] + 0.3 * torch.randn(n, 40, frames, generator=g)


def batches_of(x, size=16):
    return lambda epoch: (x[i:i + size] for i in range(0, len(x), size))


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_pretraining_lowers_every_rbms_reconstruction_error(activation):
    torch.manual_seed(0)
    model = models.build("dbn", 4, hidden=[16, 8], activation=activation, pretrain_epochs=30, pretrain_lr=0.05)
    x = structured_mfccs()
    record = model.pretrain(batches_of(x))
    assert [(r["layer"], r["visible"], r["units"]) for r in record["layers"]] == \
        [(1, "gaussian", 16), (2, "bernoulli" if activation == "sigmoid" else "relu", 8)]
    for layer in record["layers"]:
        errors = layer["reconstruction_error"]
        assert len(errors) == 30 and errors[-1] < 0.8 * errors[0], layer
    # greedy: each RBM learnt the hidden means of the one below (its recorded error is its error on them)
    with torch.no_grad():
        model.input_norm.train()  # batch statistics, as in pre-training
        v = model.forward_features(x).mean(dim=2)
        for rbm, layer in zip(model.rbms(), record["layers"]):
            assert float(rbm.reconstruction_error(v)) == pytest.approx(layer["reconstruction_error"][-1], rel=0.2)
            v = rbm.hidden_mean(v)
    assert model.is_pretrained and model.training  # the mode it was in


def test_the_fine_tuned_net_runs_on_the_rbm_weights():
    torch.manual_seed(0)
    model = models.build("dbn", 4, hidden=[16, 8], pretrain_epochs=5, pretrain_lr=0.02)
    torch.manual_seed(0)
    fresh = models.build("dbn", 4, hidden=[16, 8])
    x = structured_mfccs()
    model.pretrain(batches_of(x))
    rbms = model.rbms()
    assert [r.layer for r in rbms] == [model.mlp[0], model.mlp[3]]  # the net's own Linear layers, not copies
    for rbm, before in zip(rbms, (fresh.mlp[0], fresh.mlp[3])):
        assert (rbm.layer.weight - before.weight).abs().max() > 1e-3  # pre-training moved them
    model.eval()
    with torch.no_grad():
        v = model.clip_means(model.forward_features(x))
        for rbm in rbms:
            v = rbm.hidden_mean(v)  # the RBM stack's up-pass
        torch.testing.assert_close(model.embed(x), v, rtol=0, atol=0)


def test_pretraining_standardises_the_clip_means_the_gaussian_rbm_sees():
    # frame-standardised MFCCs average to clip means of sd ~0.25; unscaled, three RBMs shrank them to a constant
    # and fine-tuning stayed at chance (UA 0.333 on the Polish corpus)
    torch.manual_seed(0)
    model = models.build("dbn", 4, hidden=[16, 8], pretrain_epochs=1)
    x = structured_mfccs()
    x = x + 10 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))  # frames vary far more than clips
    model.pretrain(batches_of(x))
    model.train()  # the input norm on batch statistics, as in pre-training and fine-tuning
    with torch.no_grad():
        means = torch.cat([model.clip_means(model.forward_features(batch)) for batch in batches_of(x)(0)])
    torch.testing.assert_close(means.mean(dim=0), torch.zeros(means.shape[1]), atol=0.1, rtol=0)
    torch.testing.assert_close(means.std(dim=0), torch.ones(means.shape[1]), atol=0.1, rtol=0)


# ----------------------------------------------------------------------------- the training loop

LABELS = ("angry", "happy", "neutral", "sad")  # the tone corpus's (tests/core/conftest.py)


@pytest.fixture(scope="module")
def tiny(tone_corpus):
    """20 clips (4 emotions x 5, two speakers) of 0.4-0.6 s: a tone per emotion in noise."""
    return tone_corpus("tiny_dbn", 0.4, 0.05)


@pytest.fixture
def pretrain_calls(monkeypatch):
    """Every call of DBN.pretrain, with the weights it left (our own method wrapped, nothing of torch)."""
    calls, original = [], DBN.pretrain

    def recording(self, *args, **kwargs):
        record = original(self, *args, **kwargs)
        calls.append({k: v.detach().clone() for k, v in self.state_dict().items()})
        return record

    monkeypatch.setattr(DBN, "pretrain", recording)
    return calls


def dbn_config(**settings):
    return TrainConfig(**{"model": "dbn", "model_cfg": {"hidden": [16, 8], "pretrain_epochs": 2}, "epochs": 1,
                          "batch_size": 8, "seconds": 0.5, "lr": 1e-3, "focal_gamma": 0.0, "class_weighted": False,
                          "device": "cpu"} | settings)


def test_the_loop_pretrains_once_and_fine_tunes_from_the_rbm_weights(tiny, tmp_path, pretrain_calls):
    manifest = load_manifest(tiny)
    result = fit(manifest, dbn_config(lr=1e-9), tmp_path / "run", progress=False)
    assert len(pretrain_calls) == 1
    record = result.card.training["pretraining"]
    assert record["method"] == "CD-1" and [len(r["reconstruction_error"]) for r in record["layers"]] == [2, 2]
    assert checkpoint.read_card(tmp_path / "run" / "model").training["pretraining"] == record
    after_pretraining, tuned = pretrain_calls[0], result.model.state_dict()
    torch.manual_seed(0)
    initial = models.build("dbn", 4, hidden=[16, 8]).state_dict()
    for key in ("mlp.0.weight", "mlp.3.weight", "mlp.0.visible_bias"):
        assert (after_pretraining[key] - initial[key]).abs().max() > 1e-3, key
        torch.testing.assert_close(tuned[key], after_pretraining[key], rtol=0, atol=1e-6)  # lr 1e-9: a hair away
    assert bool(tuned["pretrain_done"])


def test_a_resumed_run_does_not_pretrain_again(tiny, tmp_path, pretrain_calls):
    manifest = load_manifest(tiny)
    fit(manifest, dbn_config(), tmp_path / "cut", progress=False)
    first = checkpoint.read_card(tmp_path / "cut" / "model").training["pretraining"]
    resumed = fit(manifest, dbn_config(epochs=2), tmp_path / "cut", resume=True, progress=False)
    assert len(pretrain_calls) == 1  # the first run's only
    assert resumed.card.training["pretraining"] == first and len(resumed.history) == 2
    whole = fit(manifest, dbn_config(epochs=2), tmp_path / "whole", progress=False)
    assert len(pretrain_calls) == 2
    for key, value in whole.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key


def test_pretrain_stage_leaves_models_without_pretrain_alone():
    torch.manual_seed(0)
    model = models.build("sdnn", 4, hidden=[8])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert pretrain_stage(model, lambda items: None, torch.zeros(4, 3), batch_size=2, seed=0, resumed_from=None,
                          progress=False) is None
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# ----------------------------------------------------------------------------- the preset

def test_the_s2_dbn_preset_holds_the_papers_values():
    p = presets.get("s2-dbn")
    cfg = p.train_config()
    assert (cfg.lr, cfg.batch_size, cfg.epochs, cfg.lr_schedule, cfg.lr_decay, cfg.focal_gamma) == \
        (0.05, 32, 1000, "step", 1.0, 0.0)  # "0.05", "32 for the batch size", "1000 ... iterations"
    model = models.build(p.model, 8, **dict(p.model_cfg))
    assert (model.pretrain_lr, model.pretrain_epochs, model.activation) == (0.005, 50, "relu")  # "0.005", "50"
    assert [m.p for m in model.mlp if isinstance(m, nn.Dropout)] == [0.2] * 3  # "20%"
    assert [m.out_features for m in model.mlp if isinstance(m, nn.Linear)] == [128] * 3  # "three ... 128 nodes"
    # dense layers 40 -> 128 -> 128 -> 128 -> 8 emotions (RAVDESS), plus our input BatchNorm of the 40 MFCCs
    assert models.num_parameters(model) == (40 * 128 + 128) + 2 * (128 * 128 + 128) + (128 * 8 + 8) + 2 * 40
    assert model(torch.randn(2, 40, 228)).shape == (2, 8)


def test_serwb_train_preset_s2_dbn_pretrains_and_trains_one_epoch(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--preset", "s2-dbn", "--corpus", str(tiny), "--out", str(out), "--epochs", "1",
                 "--batch-size", "8", "--model-cfg", "pretrain_epochs=2", "--device", "cpu", "--quiet"]) == 0
    card = checkpoint.read_card(out / "model")
    assert card.model == "dbn" and card.model_config["activation"] == "relu" and len(card.metrics["history"]) == 1
    record = card.training["pretraining"]
    assert (record["epochs"], record["lr"]) == (2, 0.005) and len(record["layers"]) == 3
    assert [layer["hidden"] for layer in record["layers"]] == ["relu"] * 3
