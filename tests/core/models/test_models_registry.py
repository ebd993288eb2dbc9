"""The registry: names, settings, errors a user can act on."""

import dataclasses
import json

import pytest
import torch

from core import models
from core.errors import ConfigError


def test_unknown_model_names_what_exists():
    with pytest.raises(ConfigError, match=r"Unknown model 'resnet'\. Known models: cnn, cnn-area, cnn-atn, cnn-eca, .*yamnet"):
        models.build("resnet", 4)
    with pytest.raises(ConfigError, match="Known models"):
        models.spec("resnet")


def test_unknown_setting_names_the_settings():
    with pytest.raises(ConfigError, match=r"Unknown setting\(s\) \['widht'\] for model 'vggish'.*width"):
        models.build("vggish", 4, widht=0.5)
    with pytest.raises(ConfigError, match="eca_kernel"):  # the baseline has no ECA settings
        models.build("cnn", 4, eca_kernel=7)


@pytest.mark.parametrize("name,bad", [
    ("vggish", {"width": 0}), ("vggish", {"width": "wide"}), ("yamnet", {"hidden": -1}), ("fusion", {"patch_hop": 0}),
    ("sdnn", {"hidden": []}), ("lstm", {"layers": 0}), ("cnn-atn", {"channels": [8, "x"]}), ("cnn3d", {"segment_frames": 3}),
    ("lstm-atn", {"input_norm": "yes"}), ("cnn", {"dropout": -0.1}),
])
def test_invalid_values_are_config_errors(name, bad):
    with pytest.raises(ConfigError, match=f"setting '{next(iter(bad))}"):
        models.build(name, 4, **bad)


@pytest.mark.parametrize("num_classes", [0, -1, 2.0, True, "4"])
def test_num_classes_must_be_a_positive_integer(num_classes):
    with pytest.raises(ConfigError, match="num_classes"):
        models.build("sdnn", num_classes)


def test_lists_and_tuples_build_the_same_model():
    a = models.build("cnn-eca", 4, n=1, eca_blocks=(5, 6))
    b = models.build("cnn-eca", 4, **json.loads(json.dumps(a.config)))
    assert b.config["eca_blocks"] == [5, 6] and a.config == b.config
    assert a.spec == b.spec


def test_specs_are_frozen_and_complete():
    for name in models.available():
        s = models.spec(name)
        assert s.name == name and s.paper in {"S0", "S1", "S2", "S3"}
        assert s.input_kind in {"log-mel", "patch", "mfcc-seq", "volume"}
        assert s.has_attention == (name in {"lstm-atn", "cnn-atn"})
        assert set(models.demo_config(name)) <= set(models.default_config(name))
    with pytest.raises(dataclasses.FrozenInstanceError):
        models.spec("cnn").name = "x"


def test_default_config_is_the_full_setting_list():
    assert models.default_config("cnn-eca") == {"n": 4, "eca_kernel": 7, "eca_blocks": [5, 6], "dropout": 0.0,
                                                "cmn": False}
    assert models.default_config("cnn3d")["segments"] == 10


def test_registering_a_model_twice_is_refused():
    with pytest.raises(ValueError, match="twice"):
        models.register_model(models.spec("cnn"))(lambda num_classes: None)


def test_builders_take_settings_as_keyword_only_defaults():
    spec = models.ModelSpec(name="_probe", paper="S0", input_kind="log-mel", feature_preset="stft-v8")
    with pytest.raises(TypeError, match="keyword-only"):
        models.register_model(spec)(lambda num_classes, width: None)
    assert "_probe" not in models.available()


def test_built_models_count_their_parameters():
    m = models.build("sdnn", 3, hidden=[5])
    assert models.num_parameters(m) == 40 * 2 + 40 * 5 + 5 + 5 * 3 + 3  # input BN, Linear(40,5), Linear(5,3)
    assert isinstance(m, torch.nn.Module)


@pytest.mark.parametrize("name", models.available())
def test_every_model_class_carries_the_registered_spec(name):
    """A model's class knows its spec without the registry: with what ``build`` set removed, the instance
    still answers the same spec (cam layers, ECA taps and attention adapted to its settings)."""
    model = models.build(name, 3, **models.demo_config(name))
    registered = model.spec
    del model.__dict__["_spec"]
    assert model.spec == registered
    assert model.model_name == name


def test_a_cnn_built_directly_has_its_spec():
    from core.models.cnn import CnnEca

    assert CnnEca(4).spec == models.spec("cnn")
    with_eca = CnnEca(4, eca_blocks=(5, 6))
    assert with_eca.spec == models.spec("cnn-eca")
    assert [with_eca.get_submodule(t) for t in with_eca.spec.eca_taps]  # the taps exist on the module
