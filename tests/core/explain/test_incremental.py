"""Incremental occlusion equals captum ``Occlusion`` (one plain forward per window) on every registered conv model."""

import numpy as np
import pytest
import torch
from captum.attr import Occlusion
from torch import nn

from core.explain import incremental
from core.explain.baselines import baseline
from core.explain.occlusion import OcclusionSettings, occlusion
from core.explain.subject import Subject
from core.features import PRESETS
from core.models import available, build, demo_config

# incremental by stem or by patch
CONV_MODELS = ("cnn", "cnn-atn", "cnn-eca", "cnn-mha", "cnn-hf", "cnn-area", "cnn1d", "fusion", "vggish", "yamnet")
PLAIN_ONLY = {"cnn3d": "its volume folds time into two axes", "lstm": "recurrent", "lstm-atn": "recurrent",
              "sdnn": "dense layers over the sequence", "dbn": "dense layers over the time average",
              "cnn-lstm": "recurrent"}
# Windows that do not tile the grid: the last ones are clipped, as captum clips them.
SETTINGS = OcclusionSettings(window_ms=200, window_bands=30, stride_ms=130, stride_bands=23, baseline="mean",
                             perturbations_per_eval=5)


def trained_looking(name: str) -> nn.Module:
    """A demo-size model whose BatchNorm statistics are not the identity (as after training)."""
    torch.manual_seed(0)
    model = build(name, 3, **demo_config(name)).eval()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.normal_(0, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model


def subject_for(model: nn.Module, frames: int = 157) -> Subject:
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(model.bands or 64, frames, generator=generator)
    return Subject(model, features, PRESETS[model.spec.feature_preset], ("a", "b", "c"))


def captum_occlusion(subject: Subject, settings: OcclusionSettings, target: int) -> np.ndarray:
    ours = occlusion(subject, target, settings)["occlusion"]  # for the window sizes in frames it chose
    window = (min(settings.window_bands, subject.features.shape[0]), ours.settings["window_frames"])
    strides = (min(settings.stride_bands, subject.features.shape[0]), ours.settings["stride_frames"])
    base = baseline(subject.features, settings.baseline)[None]
    with torch.no_grad():
        return Occlusion(subject.model).attribute(subject.features[None], sliding_window_shapes=window,
                                                  strides=strides, baselines=base, target=target,
                                                  perturbations_per_eval=1)[0].numpy()


def rounding(subject: Subject) -> float:
    """Occlusion values are differences of logits: float32 rounding of the logits themselves."""
    with torch.no_grad():
        return 4e-6 * float(subject.model(subject.features[None]).abs().max())


def test_every_registered_model_is_either_incremental_or_named_plain():
    assert set(available()) == set(CONV_MODELS) | set(PLAIN_ONLY)


@pytest.mark.parametrize("name", CONV_MODELS)
def test_incremental_occlusion_equals_captums_plain_occlusion(name):
    subject = subject_for(trained_looking(name))
    assert incremental.plan(subject.model, subject.features) is not None
    ours = occlusion(subject, 2, SETTINGS)["occlusion"]
    assert ours.settings["incremental"] is True
    reference = captum_occlusion(subject, SETTINGS, 2)
    assert np.abs(reference).max() > 0
    np.testing.assert_allclose(ours.values, reference, rtol=1e-4, atol=rounding(subject))


@pytest.mark.parametrize("name", sorted(PLAIN_ONLY))
def test_models_without_a_local_stem_run_plain_occlusion(name):
    subject = subject_for(trained_looking(name))
    assert incremental.plan(subject.model, subject.features) is None
    assert occlusion(subject, 0, SETTINGS)["occlusion"].settings["incremental"] is False


def test_a_model_reading_the_whole_clip_first_falls_back_and_stays_exact():
    cmn = build("cnn-eca", 3, n=1, cmn=True).eval()  # band means of the whole clip removed first
    subject = subject_for(cmn)
    assert incremental.plan(cmn, subject.features) is None
    ours = occlusion(subject, 1, SETTINGS)["occlusion"]
    assert ours.settings["incremental"] is False
    np.testing.assert_allclose(ours.values, captum_occlusion(subject, SETTINGS, 1), rtol=1e-4, atol=rounding(subject))


def test_a_clip_the_model_pads_falls_back():
    model = trained_looking("cnn-eca")
    short = subject_for(model, frames=20)  # fewer frames than five 2x2 pools need: padded with the clip's floor
    assert incremental.plan(model, short.features) is None


@pytest.mark.parametrize("frames", [33, 64, 301])
def test_stem_logits_equal_full_forwards_for_edge_windows(frames):
    """The first, the last and a middle window, at a length that leaves odd tails at every pool."""
    model = trained_looking("cnn-eca")
    subject = subject_for(model, frames=frames)
    base = baseline(subject.features, "silence")
    path = incremental.plan(model, subject.features)
    windows = [(0, 16, 0, 9), (40, 64, frames - 7, frames), (10, 30, frames // 2, frames // 2 + 5)]
    occluded = subject.features.expand(len(windows), -1, -1).clone()
    for i, (b0, b1, f0, f1) in enumerate(windows):
        occluded[i, b0:b1, f0:f1] = base[b0:b1, f0:f1]
    with torch.no_grad():
        np.testing.assert_allclose(path.logits(windows, base).numpy(), model(occluded).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("module", [nn.MaxPool2d(2, padding=1), nn.AvgPool1d(2, ceil_mode=True), nn.LSTM(4, 4),
                                    nn.Conv1d(2, 2, 4, padding="same"), nn.Conv2d(1, 1, 3, padding=1,
                                                                                 padding_mode="reflect")])
def test_layers_whose_time_reach_is_not_known_are_refused(module):
    with pytest.raises(ValueError):
        incremental.geometry(module)


def test_a_stem_with_an_unknown_layer_falls_back_to_plain():
    model = trained_looking("cnn-eca")
    model.blocks[0].pool = nn.MaxPool2d(2, padding=1)  # padded pools read -inf at the edges: not supported
    subject = subject_for(model)
    assert incremental.plan(model, subject.features) is None
