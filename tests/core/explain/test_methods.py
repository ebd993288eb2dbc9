"""Grad-CAM, occlusion and LIME: known answers on the planted model, captum references, determinism."""

import numpy as np
import pytest
import torch
from captum.attr import LayerGradCam, Occlusion

from planted_patch import PATCH_BANDS, PATCH_FRAMES
from core.errors import ConfigError
from core.explain.baselines import BASELINES, baseline
from core.explain.gradcam import GradCamSettings, gradcam
from core.explain.lime import LimeSettings, grid_for, lime
from core.explain.maps import Grid, normalise
from core.explain.occlusion import OcclusionSettings, occlusion
from core.explain import methods as registry
from core.explain.subject import Subject
from core.features import PRESETS, extract
from core.models import available, build, demo_config


def inside_share(values: np.ndarray) -> float:
    positive = np.clip(values, 0, None)
    return float(positive[PATCH_BANDS, PATCH_FRAMES].sum() / positive.sum())


PATCH_AREA = (16 * 21) / (64 * 100)  # what a uniform map would score: about 5 %


@pytest.mark.parametrize("method", registry.available())
def test_every_method_points_at_the_planted_patch(planted_subject, method):
    if registry.unmet_need(method, planted_subject.model):
        assert method == "attention"  # cnn-eca has none; test_models_sequence checks the attention weights
        return
    fine = {"layer": "blocks.1"}  # the planted patch is 16 x 21 cells: a block fine enough to resolve it
    # The toy spectrograms are N(0, 1) noise: the band mean is the neutral baseline (see LIME below).
    on_the_grid = {"num_samples": 300, "cell_ms": 100, "cell_bands": 8, "baseline": "mean"}
    explain = {
        "gradcampp": lambda s: registry.explain("gradcampp", s, 1, registry.settings_for("gradcampp", **fine))["gradcampp"],
        "hirescam": lambda s: registry.explain("hirescam", s, 1, registry.settings_for("hirescam", **fine))["hirescam"],
        "integrated-gradients": lambda s: registry.explain("integrated-gradients", s, 1, registry.settings_for(
            "integrated-gradients", baseline="mean"))["integrated-gradients"],
        "gradient-shap": lambda s: registry.explain("gradient-shap", s, 1, registry.settings_for(
            "gradient-shap", baseline="mean"))["gradient-shap"],
        "smoothgrad": lambda s: registry.explain("smoothgrad", s, 1)["smoothgrad"],
        "kernelshap": lambda s: registry.explain("kernelshap", s, 1, registry.settings_for(
            "kernelshap", **on_the_grid))["kernelshap"],
        "gradcam": lambda s: gradcam(s, 1, GradCamSettings(layer="blocks.1"))["gradcam"],
        "occlusion": lambda s: occlusion(s, 1, OcclusionSettings(window_ms=100, window_bands=8, stride_ms=50, stride_bands=4))["occlusion"],
        # The toy spectrograms are N(0, 1) noise, so their minimum is no "silence": LIME with half
        # the cells at the minimum saturates the model. The per-band mean is the neutral baseline here.
        "lime": lambda s: lime(s, 1, LimeSettings(num_samples=300, cell_ms=100, cell_bands=8, baseline="mean"))["lime"],
    }[method]
    m = explain(planted_subject)
    assert m.values.shape == (64, 100) and m.target == 1 and m.target_label == "present"
    assert inside_share(m.values) > 5 * PATCH_AREA
    peak_band, peak_frame = np.unravel_index(np.argmax(m.values), m.values.shape)
    assert 16 <= peak_band < 40 and 36 <= peak_frame < 65
    assert len(m.frame_times) == 100 and m.seconds > 0
    if method == "lime":
        assert m.settings["fit_r2"] > 0.5  # LIME reports how well its linear surrogate fits


def test_last_block_gradcam_is_coarse_but_its_peak_is_on_the_patch(planted_subject):
    m = gradcam(planted_subject, 1)["gradcam"]  # blocks.5: 2 bands x 3 frames before upsampling
    assert m.settings["layers"] == ["blocks.5"]
    peak_frame = np.unravel_index(np.argmax(m.values), m.values.shape)[1]
    assert 40 <= peak_frame <= 60
    with pytest.raises(ConfigError, match="no layer 'blocks.9'"):
        gradcam(planted_subject, 1, GradCamSettings(layer="blocks.9"))


def test_gradcam_is_captums_layer_gradcam_upsampled(planted_subject):
    model = planted_subject.model
    ours = gradcam(planted_subject, 1)["gradcam"].values
    layer = model.get_submodule(model.spec.cam_layers[0])
    reference = LayerGradCam(model, layer).attribute(planted_subject.features[None], target=1, relu_attributions=True)
    upsampled = LayerGradCam.interpolate(reference, (64, 100), interpolate_mode="bilinear")[0, 0]
    np.testing.assert_allclose(ours, upsampled.detach().numpy(), rtol=1e-4, atol=1e-6)


def test_occlusion_equals_captum_with_one_perturbation_per_eval(planted_subject):
    settings = OcclusionSettings()
    ours = occlusion(planted_subject, 1, settings)["occlusion"]
    assert ours.settings["perturbations_per_eval"] > 1
    reference = Occlusion(planted_subject.model).attribute(
        planted_subject.features[None], sliding_window_shapes=(16, 20), strides=(8, 10),
        baselines=baseline(planted_subject.features, "silence")[None], target=1, perturbations_per_eval=1)
    np.testing.assert_allclose(ours.values, reference[0].numpy(), rtol=1e-4, atol=1e-5)
    for per_eval in (1, 7, 64):
        other = occlusion(planted_subject, 1, OcclusionSettings(perturbations_per_eval=per_eval))["occlusion"]
        np.testing.assert_allclose(other.values, ours.values, rtol=1e-4, atol=1e-5)


def test_lime_is_deterministic_for_a_seed_and_uses_a_time_band_grid(planted_subject):
    settings = LimeSettings(num_samples=200)
    a, b = lime(planted_subject, 1, settings)["lime"], lime(planted_subject, 1, settings)["lime"]
    np.testing.assert_array_equal(a.values, b.values)
    c = lime(planted_subject, 1, LimeSettings(num_samples=200, seed=1))["lime"]
    assert not np.array_equal(a.values, c.values)
    grid = grid_for(planted_subject, settings)
    assert (grid.band_step, grid.frame_step) == (8, 25)
    # constant inside every cell: the segmentation is the grid, not superpixels
    cells = grid.labels()
    for cell in range(grid.n_cells):
        assert np.ptp(a.values[cells == cell]) == 0
    progress = []
    lime(planted_subject, 1, LimeSettings(num_samples=128, batch_size=64), progress=progress.append)
    assert progress == [0.5, 1.0]


def test_baselines(planted_subject):
    f = planted_subject.features
    assert (baseline(f, "silence") == f.min()).all()
    torch.testing.assert_close(baseline(f, "mean")[:, 0], f.mean(-1))
    torch.testing.assert_close(baseline(f, "noise", seed=3), baseline(f, "noise", seed=3))
    assert BASELINES == ("silence", "mean", "noise", "floor")
    with pytest.raises(ConfigError, match="silence, mean, noise, floor"):
        baseline(f, "zeros")


def test_the_floor_baseline_is_the_clips_own_background():
    from core.features import frontend, preset

    g = torch.Generator().manual_seed(0)
    t = torch.arange(16_000) / 16_000
    hum = 0.01 * torch.sin(2 * torch.pi * 150 * t) + 0.002 * torch.randn(16_000, generator=g)  # a coloured background
    wave = hum.clone()
    wave[4000:12000] += 0.3 * torch.sin(2 * torch.pi * 440 * t[4000:12000])  # speech-like tone in the middle half
    for name in ("stft-v8", "mfcc40"):
        cfg = preset(name)
        f = frontend(cfg)(wave[None])[0]
        background = frontend(cfg)(hum[None])[0].mean(-1)
        floor = baseline(f, "floor")
        assert torch.equal(floor, floor[:, :1].expand_as(floor))  # one column, repeated
        # the background's spectrum, not a flat level: much closer to it than the silence baseline is
        assert (floor[:, 0] - background).abs().mean() < 0.2 * (baseline(f, "silence")[:, 0] - background).abs().mean()
    padded = torch.nn.functional.pad(wave[4000:12000], (8000, 8000))  # zero padding: the floor is its value
    f = frontend(preset("stft-v8"))(padded[None])[0]
    torch.testing.assert_close(baseline(f, "floor"), baseline(f, "silence"))


def test_grid_and_normalise():
    grid = Grid(bands=10, frames=7, band_step=4, frame_step=3)
    assert (grid.n_band_cells, grid.n_frame_cells, grid.n_cells) == (3, 3, 9)
    labels = grid.labels()
    assert labels[0, 0] == 0 and labels[9, 6] == 8 and labels[4, 3] == 4
    np.testing.assert_array_equal(grid.expand(np.arange(9)), labels)
    values = np.array([[-2.0, 1.0], [0.5, 4.0]])
    assert normalise(values).min() == -0.5 and normalise(values).max() == 1.0
    assert normalise(values, scale=8.0).max() == 0.5
    assert normalise(np.zeros((2, 2))).sum() == 0


@pytest.mark.parametrize("name", [n for n in available() if build(n, 4, **demo_config(n)).spec.cam_layers])
def test_gradcam_lands_on_the_input_grid_for_every_model_with_a_cam_layer(name):
    torch.manual_seed(0)
    model = build(name, 4, **demo_config(name)).eval()
    cfg = PRESETS[model.spec.feature_preset]
    features = extract(torch.randn(16_000 * 2) * 0.1, cfg)
    maps = gradcam(Subject(model, features, cfg, list("abcd")), 2)
    assert maps["gradcam"].values.shape == tuple(features.shape)
    assert (maps["gradcam"].values >= 0).all()
    if len(model.spec.cam_layers) > 1:
        branches = [k for k in maps if k.startswith("gradcam-")]
        assert len(branches) == 2
        np.testing.assert_allclose(sum(maps[b].values for b in branches), maps["gradcam"].values, rtol=1e-5, atol=1e-7)


def test_gradcam_on_a_model_without_conv_layers_says_what_to_use():
    model = build("lstm", 4, **demo_config("lstm")).eval()
    cfg = PRESETS["mfcc40"]
    subject = Subject(model, extract(torch.randn(16_000) * 0.1, cfg), cfg, list("abcd"))
    with pytest.raises(ConfigError, match="occlusion or LIME"):
        gradcam(subject, 0)


def test_auto_removal_is_what_the_model_was_trained_to_see_as_nothing(planted_subject):
    from dataclasses import replace

    from core.explain.baselines import REMOVALS, removal_for

    assert REMOVALS[0] == "auto" and OcclusionSettings().baseline == LimeSettings().baseline == "auto"
    assert removal_for("auto", "noise-floor") == "floor" and removal_for("auto", "zeros") == "silence"
    assert removal_for("mean", "noise-floor") == "mean"  # a chosen baseline is kept
    real = replace(planted_subject, padding="noise-floor")
    for subject, expected in ((planted_subject, "silence"), (real, "floor")):
        auto = occlusion(subject, 1)["occlusion"]
        chosen = occlusion(subject, 1, OcclusionSettings(baseline=expected))["occlusion"]
        assert auto.settings["baseline"] == expected  # the map records what was removed, not "auto"
        np.testing.assert_array_equal(auto.values, chosen.values)
        settings = LimeSettings(num_samples=64, batch_size=64)
        assert lime(subject, 1, settings)["lime"].settings["baseline"] == expected
    assert not np.array_equal(occlusion(real, 1)["occlusion"].values, occlusion(planted_subject, 1)["occlusion"].values)
