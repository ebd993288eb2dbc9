"""The model contract, checked on every registered model (timm's test parametrised over the registry).

Small CPU sizes: each model is built with its demo settings (``models.demo_config``).
"""

import json

import pytest
import torch

from core import models
from core.features import PRESETS


NAMES = models.available()
NUM_CLASSES = 4


def small(name: str, seed: int = 0) -> models.SerModel:
    torch.manual_seed(seed)
    return models.build(name, NUM_CLASSES, **models.demo_config(name))


def features(model, frames: int, batch: int = 2, seed: int = 1) -> torch.Tensor:
    bands = PRESETS[model.spec.feature_preset].n_bands
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, bands, frames, generator=g) - 4.0  # log-mel-like: mostly negative


# frame counts: a 1 s / 1.5 s clip (10 ms hop), and 96 = one patch for the patch models
FRAMES = (101, 161)


@pytest.fixture(scope="module", params=NAMES)
def model(request):
    return small(request.param)


def test_the_registry_lists_the_four_systems():
    assert NAMES == sorted(NAMES)
    assert set(NAMES) == {"cnn", "cnn-eca", "cnn-mha", "cnn-hf", "cnn-area", "cnn3d", "cnn-lstm", "dbn", "sdnn", "lstm",
                         "lstm-atn", "cnn-atn", "cnn1d", "vggish", "yamnet", "fusion"}
    assert {models.spec(n).paper for n in NAMES} == {"S0", "S1", "S2", "S3"}


def test_built_model_carries_its_identity(model):
    name = model.model_name
    assert model.spec.name == name and model.num_classes == NUM_CLASSES
    base = models.spec(name)
    assert (model.spec.paper, model.spec.input_kind, model.spec.feature_preset) == (base.paper, base.input_kind, base.feature_preset)
    assert model.spec.feature_preset in PRESETS
    assert model.config == {**models.default_config(name), **models.demo_config(name)}
    assert json.loads(json.dumps(model.config)) == model.config
    assert model.spec.min_frames >= 1 and model.spec.description


@pytest.mark.parametrize("frames", FRAMES)
def test_forward_gives_finite_logits_for_several_lengths(model, frames):
    model.eval()
    with torch.no_grad():
        out = model(features(model, frames))
    assert out.shape == (2, NUM_CLASSES) and torch.isfinite(out).all()


def test_inputs_shorter_than_the_receptive_field_work(model):
    model.eval()
    frames = model.spec.min_frames
    with torch.no_grad():
        out = model(features(model, max(frames, 5)))
    assert out.shape == (2, NUM_CLASSES) and torch.isfinite(out).all()


def test_forward_is_head_of_features_and_embed_is_pre_logits(model):
    model.eval()
    x = features(model, FRAMES[0])
    with torch.no_grad():
        logits = model(x)
        feats = model.forward_features(x)
        assert torch.equal(model.forward_head(feats), logits)
        emb = model.embed(x)
        assert torch.equal(emb, model.forward_head(feats, pre_logits=True))
    assert emb.shape == (2, model.num_features) and torch.isfinite(emb).all()


def test_eval_mode_is_deterministic_and_batch_consistent(model):
    model.eval()
    x = features(model, FRAMES[1], batch=3)
    with torch.no_grad():
        a, b = model(x), model(x)
        rows = torch.cat([model(x[i:i + 1]) for i in range(3)])
    assert torch.equal(a, b)
    torch.testing.assert_close(rows, a, rtol=1e-4, atol=1e-5)


def test_forward_writes_no_state_on_the_module(model):
    model.eval()
    before = {name: dict(vars(m)) for name, m in model.named_modules()}
    with torch.no_grad():
        model(features(model, FRAMES[0]))
    after = {name: dict(vars(m)) for name, m in model.named_modules()}
    assert before.keys() == after.keys()
    for name in before:
        assert before[name].keys() == after[name].keys(), name
        for key, value in before[name].items():
            assert after[name][key] is value, f"{name}.{key} changed during forward"


def test_rebuilding_from_the_json_config_gives_the_same_architecture(model):
    config = json.loads(json.dumps(model.config))
    again = models.build(model.model_name, model.num_classes, **config)
    assert again.config == model.config and again.spec == model.spec
    mine, theirs = model.state_dict(), again.state_dict()
    assert list(mine) == list(theirs)
    assert all(mine[k].shape == theirs[k].shape for k in mine)


def test_same_seed_same_weights(model):
    again = small(model.model_name)
    for (k, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), k


def test_backward_reaches_every_trainable_parameter(model):
    model.train()
    model.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(features(model, FRAMES[0])), torch.tensor([0, 3]))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    model.zero_grad(set_to_none=True)
    model.eval()


def test_spec_layers_resolve_and_eca_taps_have_a_sigmoid_gate(model):
    for layer in model.spec.cam_layers:
        model.get_submodule(layer)
    for tap in model.spec.eca_taps:
        assert isinstance(model.get_submodule(tap + ".gate"), torch.nn.Sigmoid)


def test_cam_layers_can_be_hooked_forward_and_backward_and_mapped_to_the_grid(model):
    """What Grad-CAM does: activations and gradients of each cam layer, then back onto (bands, frames)."""
    if not model.spec.cam_layers:
        assert model.model_name in {"sdnn", "dbn", "lstm", "lstm-atn"}
        return
    model.eval()
    frames = FRAMES[1]
    x = features(model, frames)
    for layer in model.spec.cam_layers:
        seen = {}
        module = model.get_submodule(layer)
        handles = [
            module.register_forward_hook(lambda m, i, o: seen.__setitem__("act", o)),
            module.register_full_backward_hook(lambda m, gi, go: seen.__setitem__("grad", go[0])),
        ]
        try:
            model(x)[:, 1].sum().backward()
        finally:
            for h in handles:
                h.remove()
        act, grad = seen["act"], seen["grad"]
        assert act.shape == grad.shape
        weights = grad.mean(dim=tuple(range(2, grad.dim())), keepdim=True)
        cam = torch.relu((weights * act).sum(1)).detach()
        grid = model.cam_to_grid(cam, frames)
        assert grid.shape == (2, x.shape[1], frames) and torch.isfinite(grid).all()
    model.zero_grad(set_to_none=True)


def test_eca_gates_can_be_recorded_with_hooks(model):
    model.eval()
    gates = []
    handles = [model.get_submodule(t + ".gate").register_forward_hook(lambda m, i, o: gates.append(o))
               for t in model.spec.eca_taps]
    try:
        with torch.no_grad():
            model(features(model, FRAMES[0]))
    finally:
        for h in handles:
            h.remove()
    assert len(gates) == len(model.spec.eca_taps)
    for g in gates:
        assert g.shape[0] == 2 and g.flatten(1).shape[1] == g.shape[1]  # (B, C, 1, 1)
        assert ((g > 0) & (g < 1)).all()


def test_attention_models_return_weights_per_step(model):
    if not model.spec.has_attention:
        assert not hasattr(model, "attention_weights")
        return
    model.eval()
    with torch.no_grad():
        w = model.attention_weights(features(model, FRAMES[0]))
    assert w.shape == (2, model.n_steps(FRAMES[0]))
    torch.testing.assert_close(w.sum(1), torch.ones(2))
    assert (w >= 0).all()
