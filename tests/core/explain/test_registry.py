"""The method registry: one declaration per method, read by analyze, the CLI and the settings widgets."""

from dataclasses import dataclass, fields

import numpy as np
import pytest
import torch

from core.audio import load_audio, to_wav_bytes
from core.cli import _method_settings, main
from core.errors import ConfigError
from core.explain import Settings, analyze
from core.explain import methods as registry
from core.explain.registry import _REGISTRY, MethodSpec, register_method, setting
from core.models import build, demo_config


def model_of(name):
    torch.manual_seed(0)
    return build(name, 4, **demo_config(name)).eval()


def test_every_method_declares_its_settings_with_defaults_inside_their_ranges():
    assert set(registry.available()) >= {"gradcam", "gradcampp", "hirescam", "occlusion", "lime", "attention",
                                         "integrated-gradients", "gradient-shap", "smoothgrad", "kernelshap"}
    assert registry.default_methods() == ("gradcam", "occlusion", "lime", "attention")
    for name in registry.available():
        spec = registry.method_spec(name)
        assert spec.name == name and spec.title and spec.description and spec.reference
        infos = spec.setting_infos()
        assert [i.name for i in infos] == [f.name for f in fields(spec.settings)]
        for info in infos:
            assert info.label and (info.help or not info.shown), (name, info.name)
            if info.choices is not None:
                assert info.default in info.choices
            elif info.default is not None and info.low is not None:
                assert info.low <= info.default <= (info.high if info.high is not None else info.default)
        registry.settings_for(name)  # the defaults pass the registry's own check


def test_settings_outside_their_declaration_are_refused_with_the_setting_named():
    with pytest.raises(ConfigError, match="window \\(ms\\): 5.0 is outside 10.0..3000.0"):
        registry.settings_for("occlusion", window_ms=5.0)
    with pytest.raises(ConfigError, match="baseline: 'zero' is not one of auto"):
        Settings(methods={"lime": registry.settings_for("lime").__class__(baseline="zero")})
    with pytest.raises(ConfigError, match="has no setting"):
        registry.settings_for("lime", samples=3)
    with pytest.raises(ConfigError, match="LIME takes LimeSettings"):
        Settings(methods={"lime": registry.settings_for("occlusion")})
    with pytest.raises(ConfigError, match="Unknown explanation method 'shap'"):
        Settings(methods={"shap": None})


def test_methods_offered_follow_what_each_model_has():
    eca, atn, lstm = model_of("cnn-eca"), model_of("cnn-atn"), model_of("lstm")
    assert "attention" not in registry.applicable(eca) and "attention" in registry.applicable(atn)
    assert registry.defaults_for(eca) == ("gradcam", "occlusion", "lime")
    assert registry.defaults_for(atn) == ("gradcam", "occlusion", "lime", "attention")
    assert not {"gradcam", "gradcampp", "hirescam"} & set(registry.applicable(lstm))
    assert {"occlusion", "integrated-gradients", "kernelshap"} <= set(registry.applicable(lstm))
    assert "no convolutional layer" in registry.unmet_need("gradcam", lstm)


def test_the_cost_in_forwards_matches_the_forwards_made(planted_subject):
    calls = []  # inputs per forward, twice when they will be differentiated (a backward per input too)
    handle = planted_subject.model.register_forward_pre_hook(
        lambda module, args: calls.append(args[0].shape[0] * (2 if torch.is_grad_enabled() else 1)))
    try:
        calls.clear()  # incremental occlusion: one whole forward (the clip), the windows through the stem only
        registry.explain("occlusion", planted_subject, 1, registry.settings_for("occlusion"))
        assert sum(calls) == 1 < registry.cost("occlusion", planted_subject, registry.settings_for("occlusion"))
        calls.clear()  # cell-pattern LIME: no whole forward, the samples through the layers after the cut only
        registry.explain("lime", planted_subject, 1, registry.settings_for("lime", num_samples=40))
        assert sum(calls) == 0 < registry.cost("lime", planted_subject, registry.settings_for("lime", num_samples=40))
        for name, settings in (("occlusion", registry.settings_for("occlusion", perturbations_per_eval=1,
                                                                   incremental=False)),
                               ("lime", registry.settings_for("lime", num_samples=40, batch_size=1,
                                                              cell_patterns=False)),
                               ("kernelshap", registry.settings_for("kernelshap", num_samples=40, batch_size=1))):
            calls.clear()
            registry.explain(name, planted_subject, 1, settings)
            assert sum(calls) == registry.cost(name, planted_subject, settings), name
        for name in ("integrated-gradients", "smoothgrad", "gradient-shap", "gradcam", "gradcampp", "hirescam"):
            calls.clear()
            registry.explain(name, planted_subject, 1)
            assert sum(calls) == registry.cost(name, planted_subject), name
    finally:
        handle.remove()


def test_a_new_method_is_one_registration_and_analyze_runs_it(planted_card):
    @dataclass(frozen=True)
    class EnergySettings:
        power: float = setting(1.0, label="Power", help="Exponent of the input's magnitude.", low=0.5, high=4.0)

    @register_method(MethodSpec(name="energy-test", title="Energy", settings=EnergySettings,
                                description="|x|^p, a stand-in.", reference="this test"))
    def energy(subject, target, settings, progress=None):
        values = subject.features.abs() ** settings.power
        return {"energy-test": subject.make_map("energy-test", values, target, {"power": settings.power}, 0.0)}

    try:
        t = torch.arange(16_000) / 16_000
        clip = load_audio(to_wav_bytes(0.3 * torch.sin(2 * torch.pi * 440 * t), 16_000))
        model = build("cnn-eca", 2, n=1).eval()
        settings = Settings(methods={"energy-test": EnergySettings(power=2.0)}, audio=False)
        a = analyze(clip, model, planted_card, methods=("energy-test",), settings=settings, device="cpu")
        np.testing.assert_allclose(a.maps["energy-test"].values, np.abs(a.spectrogram) ** 2, rtol=1e-6)
        assert settings.to_dict()["methods"]["energy-test"] == {"power": 2.0}
        assert _method_settings(Settings(), ["energy-test.power=3"]).of("energy-test").power == 3.0
    finally:
        _REGISTRY.pop("energy-test")


def test_the_cli_reads_the_registry(capsys):
    assert main(["methods"]) == 0
    listed = capsys.readouterr().out
    for name in registry.available():
        spec = registry.method_spec(name)
        assert f"{name} ({spec.title}" in listed
        assert all(f"{name}.{info.name}=" in listed for info in spec.setting_infos())
    settings = _method_settings(Settings(), ["occlusion.window_ms=300", "gradcam.layer=blocks.4", "lime.seed=2"])
    assert settings.of("occlusion").window_ms == 300.0 and settings.of("gradcam").layer == "blocks.4"
    assert settings.of("lime").seed == 2 and settings.of("lime").num_samples == 500
    for bad, message in (("lime.samples=3", "no setting 'samples'"), ("lime.seed=two", "expected a int"),
                         ("shap.n=3", "METHOD.SETTING=VALUE"), ("occlusion.window_ms=1", "outside")):
        with pytest.raises(ConfigError, match=message):
            _method_settings(Settings(), [bad])


def test_settings_equal_to_the_defaults_make_the_same_key():
    lime = registry.settings_for("lime")
    assert Settings(methods={"lime": lime}) == Settings()
    assert Settings().with_method("lime", seed=3).of("lime").seed == 3
    assert Settings().with_method("lime", seed=3).only(["occlusion"]) == Settings()
