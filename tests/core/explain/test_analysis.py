"""analyze(): one call, every method, audio versions re-scored, thread safety, hooks released, cache keys."""

import threading
from dataclasses import replace

import numpy as np
import pytest
import torch

from core.audio import load_audio, to_wav_bytes
from core.checkpoint import Card
from core.errors import ConfigError
from core.explain import LimeSettings, OcclusionSettings, Settings, add_audio, analyze, cache_key
from core.explain.eca import eca_gates, eca_profiles
from core.features import PRESETS
from core.models import build, demo_config

FAST = Settings(methods={"lime": LimeSettings(num_samples=64), "occlusion": OcclusionSettings(window_ms=300, stride_ms=300)},
                griffin_lim_iters=32)


@pytest.fixture(scope="module")
def clip():
    g = torch.Generator().manual_seed(0)
    t = torch.arange(16_000 * 2) / 16_000
    wave = 0.3 * torch.sin(2 * torch.pi * 300 * t) * (t > 0.8) + 0.01 * torch.randn(t.shape, generator=g)
    return load_audio(to_wav_bytes(wave, 16_000))


def small(name):
    torch.manual_seed(0)
    model = build(name, 4, **demo_config(name)).eval()
    card = Card(model=name, num_classes=4, labels=("angry", "happy", "neutral", "sad"),
                features=PRESETS[model.spec.feature_preset], training={"seconds": 2.0}, weights_sha256="abc")
    return model, card


def no_hooks(model):
    return all(not m._forward_hooks and not m._backward_hooks and not m._forward_pre_hooks
               and not getattr(m, "_backward_pre_hooks", None) for m in model.modules())


def test_analysis_has_every_part(clip):
    model, card = small("cnn-eca")
    a = analyze(clip, model, card, settings=FAST, device="cpu")
    assert a.spectrogram.shape == (64, 201) and len(a.frame_times) == 201 and len(a.band_hz) == 64
    assert a.probabilities.shape == (4,) and a.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert a.target == a.predicted and a.predicted_label in card.labels
    assert set(a.maps) == {"gradcam", "occlusion", "lime"}
    for m in a.maps.values():
        assert m.values.shape == (64, 201) and m.target == a.target
    assert set(a.audio) >= {"original", "focus", "complement", "gradcam-keep", "gradcam-remove", "occlusion-keep",
                            "lime-remove", "griffin-lim"}
    for version in a.audio.values():
        assert version.wave.shape == (32_000,) and version.probabilities.shape == (4,)
    np.testing.assert_allclose(a.audio["original"].probabilities, a.probabilities, atol=1e-5)
    assert a.focus_gate.shape == (32_000,)
    assert set(a.timings) >= {"gradcam", "occlusion", "lime", "audio"}
    assert no_hooks(model)


def test_a_chosen_target_and_methods_that_cannot_run(clip):
    model, card = small("lstm")
    a = analyze(clip, model, card, methods=("gradcam", "occlusion"), settings=Settings(target=3, methods={"lime": LimeSettings(num_samples=32)}),
                device="cpu")
    assert a.target == 3 and "gradcam" in a.errors and "occlusion" in a.maps
    with pytest.raises(ConfigError, match="Target class 7"):
        analyze(clip, model, card, methods=("occlusion",), settings=Settings(target=7), device="cpu")
    with pytest.raises(ConfigError, match="Unknown explanation"):
        analyze(clip, model, card, methods=("shap",), device="cpu")


@pytest.mark.parametrize(("name", "methods"), [("cnn-atn", ("attention", "gradcam")), ("lstm-atn", ("attention",))])
def test_attention_models_give_an_attention_map_over_the_clip(clip, name, methods):
    model, card = small(name)
    a = analyze(clip, model, card, methods=methods, settings=FAST, device="cpu")
    assert a.attention.shape == (201,) and (a.attention >= 0).all() and a.attention.sum() > 0
    assert a.maps["attention"].values.shape == (40, 201) and not a.errors


def test_fusion_gives_branch_maps_on_one_timeline(clip):
    model, card = small("fusion")
    a = analyze(clip, model, card, methods=("gradcam",), settings=FAST, device="cpu")
    assert {"gradcam", "gradcam-vggish", "gradcam-yamnet"} <= set(a.maps)
    assert a.maps["gradcam-vggish"].values.shape == a.maps["gradcam-yamnet"].values.shape == a.spectrogram.shape


def test_two_threads_doing_different_work_on_one_model_get_what_each_gets_alone(clip):
    """``model_lock``, the one thread-safety mechanism, made to matter: thread A's Grad-CAM is held just after the
    hooked layer, so thread B's forward of another clip would run through A's hook; with the lock B waits instead."""
    model, card = small("cnn-eca")
    other = load_audio(to_wav_bytes(0.2 * torch.randn(16_000 * 2, generator=torch.Generator().manual_seed(1)), 16_000))
    quick = Settings(methods={"lime": LimeSettings(num_samples=24, batch_size=1)}, audio=False)
    work = {"a": (clip, ("gradcam", "hirescam"), 0), "b": (other, ("lime", "gradcampp"), 2)}
    alone = {k: analyze(c, model, card, methods=m, settings=replace(quick, target=t), device="cpu")
             for k, (c, m, t) in work.items()}
    a_paused, b_done, results, errors = threading.Event(), threading.Event(), {}, []

    def hold_thread_a(module, args):  # runs after blocks.5, the Grad-CAM layer, while captum's hook is on it
        if threading.current_thread().name == "a" and torch.is_grad_enabled() and not a_paused.is_set():
            a_paused.set()
            b_done.wait(timeout=1.0)  # under the lock B cannot start until A is done, so this times out

    def run(name):
        c, methods, target = work[name]
        try:
            if name == "b":
                a_paused.wait(timeout=10)
            results[name] = analyze(c, model, card, methods=methods, settings=replace(quick, target=target),
                                    device="cpu")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"{name}: {e!r}")
        finally:
            if name == "b":
                b_done.set()

    handle = model.head.register_forward_pre_hook(hold_thread_a)
    try:
        threads = [threading.Thread(target=run, args=(name,), name=name) for name in work]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        handle.remove()
    assert a_paused.is_set() and not errors, errors
    for name, expected in alone.items():
        for method, m in expected.maps.items():
            np.testing.assert_allclose(results[name].maps[method].values, m.values, rtol=1e-5, atol=1e-6,
                                       err_msg=f"thread {name}, {method}")
    assert no_hooks(model)


@pytest.mark.parametrize("method, settings", [
    ("occlusion", {}), ("occlusion", {"incremental": False}), ("lime", {"num_samples": 64, "batch_size": 8}),
    ("kernelshap", {"num_samples": 64, "batch_size": 8})])
def test_a_long_perturbation_run_lets_another_threads_grad_cam_in_between_its_forwards(clip, method, settings):
    """The lock is held per forward, not for a whole run: while thread A is between two of its forwards (held in
    its progress callback), thread B's Grad-CAM on the same model runs to the end."""
    from core.explain import methods as registry
    from core.explain.analysis import model_input
    from core.explain.gradcam import gradcam
    from core.explain.subject import Subject

    model, card = small("cnn-eca")
    subject = Subject(model, model_input(clip, card.features, 2.0, "cpu")[1], card.features, card.labels)
    a_between, b_done, seen = threading.Event(), threading.Event(), {}

    def progress(fraction):
        if 0 < fraction < 1 and not a_between.is_set():
            a_between.set()
            seen["b finished while a waited"] = b_done.wait(timeout=30)

    def run_b():
        a_between.wait(timeout=30)
        seen["cam"] = gradcam(subject, 0)["gradcam"]
        b_done.set()

    b = threading.Thread(target=run_b)
    b.start()
    registry.explain(method, subject, 1, registry.settings_for(method, **settings), progress)
    b.join()
    assert seen["b finished while a waited"] and seen["cam"].values.shape == subject.features.shape


def test_hooks_are_released_when_a_method_fails():
    model, _ = small("cnn-eca")
    with pytest.raises(ConfigError):
        eca_gates(model, torch.zeros(1, 40, 50))  # wrong band count: the forward raises inside the hooks
    assert no_hooks(model)


def test_eca_gates_and_per_emotion_profiles():
    model, _ = small("cnn-eca")
    feats = torch.randn(6, 64, 120)
    gates = eca_gates(model, feats)
    assert set(gates) == {"blocks.4.eca", "blocks.5.eca"}
    assert gates["blocks.4.eca"].shape == (6, 80) and gates["blocks.5.eca"].shape == (6, 96)
    assert ((gates["blocks.5.eca"] > 0) & (gates["blocks.5.eca"] < 1)).all()
    labels = ["angry", "happy", "neutral", "sad"]
    ys = np.array([0, 0, 1, 1, 2, 2])
    profiles = eca_profiles(model, [(feats[:3], ys[:3]), (feats[3:], ys[3:])], labels)
    p = profiles["blocks.5.eca"]
    np.testing.assert_allclose(p.mean[0], gates["blocks.5.eca"][:2].mean(0), rtol=1e-5)
    np.testing.assert_allclose(p.std[1], gates["blocks.5.eca"][2:4].std(0), rtol=1e-4, atol=1e-6)
    assert list(p.count) == [2, 2, 2, 0]
    assert len(p.separating_channels(5)) == 5
    with pytest.raises(ConfigError, match="no ECA"):
        eca_gates(small("cnn")[0], feats)


def test_cache_key_depends_on_clip_model_methods_and_settings():
    base = cache_key("clip", "model", ["gradcam"], Settings())
    assert base == cache_key("clip", "model", ["gradcam"], Settings())
    assert len({base, cache_key("clip2", "model", ["gradcam"], Settings()),
                cache_key("clip", "model2", ["gradcam"], Settings()),
                cache_key("clip", "model", ["gradcam", "lime"], Settings()),
                cache_key("clip", "model", ["gradcam"], Settings(methods={"lime": LimeSettings(seed=1)}))}) == 5


def test_audio_added_to_a_cached_map_equals_the_one_call_analysis(clip):
    model, card = small("cnn-eca")
    settings = Settings(methods={"lime": LimeSettings(num_samples=64)}, keep_fraction=0.3)
    whole = analyze(clip, model, card, methods=("gradcam", "lime"), settings=settings, device="cpu")
    forwards = []
    mapped = analyze(clip, model, card, methods=("gradcam", "lime"), settings=replace(settings, audio=False),
                     device="cpu")
    assert not mapped.audio
    handle = model.register_forward_pre_hook(lambda module, args: forwards.append(args[0].shape[0]))
    try:
        derived = add_audio(mapped, clip, model, card, settings, device="cpu")
    finally:
        handle.remove()
    assert len(forwards) == 1 and forwards[0] == len(derived.audio)  # one batch re-scores the versions, no map
    assert set(derived.audio) == set(whole.audio)
    for name, version in whole.audio.items():
        torch.testing.assert_close(derived.audio[name].wave, version.wave)
        np.testing.assert_allclose(derived.audio[name].probabilities, version.probabilities, atol=1e-6)
    np.testing.assert_array_equal(derived.focus_gate, whole.focus_gate)
    other = load_audio(to_wav_bytes(torch.zeros(16_000) + 0.1 * torch.randn(16_000), 16_000))
    with pytest.raises(ConfigError, match="not the analysed one"):
        add_audio(mapped, other, model, card, settings, device="cpu")


def test_a_48k_model_hears_the_clip_resampled_to_its_own_rate(clip):
    # S3's paper front end (s3-48k) on a 16 kHz clip: the features are those of the clip at 48 kHz, not of its
    # samples read as if they were 48 kHz audio (a third of the duration, three times the pitch)
    import torchaudio.functional as AF

    from core.features import frontend

    model, card = small("cnn")
    card = replace(card, features=PRESETS["s3-48k"])
    a = analyze(clip, model, card, methods=("gradcam",), settings=FAST, device="cpu")
    expected = frontend(PRESETS["s3-48k"])(AF.resample(clip.wave, 16_000, 48_000))
    assert a.spectrogram.shape == tuple(expected.shape)
    np.testing.assert_allclose(a.spectrogram, expected.numpy(), rtol=1e-4, atol=1e-4)
