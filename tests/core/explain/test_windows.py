"""Long clips are explained window by window at the training length: every frame covered, maps stitched where
the windows lie, cost growing linearly with the clip."""

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from planted_patch import PATCH_BANDS, PATCH_FRAMES

from core import checkpoint
from core.audio import Clip
from core.explain import analyze, windows
from core.explain import methods as registry
from core.explain.analysis import Settings
from core.explain.occlusion import OcclusionSettings

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("n_frames, window", [(100, 100), (250, 100), (300, 100), (301, 100), (1000, 171)])
def test_windows_are_full_length_cover_every_frame_and_end_with_the_clip(n_frames, window):
    starts = windows.window_starts(n_frames, window)
    covered = np.zeros(n_frames, dtype=int)
    for start in starts:
        assert 0 <= start and start + window <= n_frames
        covered[start:start + window] += 1
    assert covered.min() >= 1 and starts[-1] + window == n_frames
    assert covered.max() <= 2  # at most the last window overlaps its neighbour


def test_a_stitched_map_points_at_the_patch_in_the_window_that_holds_it(planted_subject):
    """Five 100-frame windows of noise, the planted patch only in the fourth: the stitched occlusion map of
    'present' peaks inside that patch, at its place on the long timeline, and each window's part is what
    explaining that window alone gives."""
    generator = torch.Generator().manual_seed(5)
    window = planted_subject.features.shape[-1]
    long = torch.randn(planted_subject.features.shape[0], 5 * window, generator=generator)
    long[:, 3 * window:4 * window] = planted_subject.features
    subject = replace(planted_subject, features=long)
    assert windows.needs_windows(long.shape[-1], window)
    settings = OcclusionSettings(window_ms=100.0, stride_ms=50.0)
    seen = []
    stitched = windows.explain_in_windows("occlusion", subject, 1, settings, window, progress=seen.append)["occlusion"]
    assert stitched.values.shape == tuple(long.shape) and len(stitched.frame_times) == long.shape[-1]
    assert stitched.settings["windows"] == 5
    band, frame = np.unravel_index(np.argmax(stitched.values), stitched.values.shape)
    assert PATCH_BANDS.start <= band < PATCH_BANDS.stop
    assert 3 * window + PATCH_FRAMES.start <= frame < 3 * window + PATCH_FRAMES.stop
    alone = registry.explain("occlusion", replace(subject, features=long[:, 3 * window:4 * window]), 1, settings)
    np.testing.assert_allclose(stitched.values[:, 3 * window:4 * window], alone["occlusion"].values, rtol=1e-5,
                               atol=1e-6)
    assert seen == sorted(seen) and seen[-1] == 1.0


@pytest.fixture(scope="module")
def demo():
    return checkpoint.load(ROOT / "assets" / "models" / "cnn-eca")


def _clip(seconds: float, sr: int = 16_000) -> Clip:
    wave = torch.randn(int(seconds * sr), generator=torch.Generator().manual_seed(1)) * 0.05
    return Clip(wave, sr, sr, 1, hashlib.sha256(wave.numpy().tobytes()).hexdigest(), f"{seconds} s")


def _frames_seen(model, clip, card, settings):
    """How many input frames the model was fed during ``analyze`` (batch x frames, summed over forwards)."""
    fed = []
    handle = model.register_forward_pre_hook(lambda module, args: fed.append(args[0].shape[0] * args[0].shape[-1]))
    try:
        analysis = analyze(clip, model, card, methods=("occlusion",), settings=settings)
    finally:
        handle.remove()
    return analysis, sum(fed)


def test_a_long_clip_costs_linearly_and_its_maps_cover_the_whole_clip(demo):
    """Occlusion over a whole clip feeds the model (windows x frames) ~ length squared; window by window it is
    linear: twice the clip, twice the frames fed (and not four times)."""
    model, card = demo
    settings = Settings(audio=False).with_method("occlusion", window_ms=500.0, stride_ms=500.0, window_bands=64,
                                                 stride_bands=64)
    seconds = card.training["seconds"]
    short, fed_short = _frames_seen(model, _clip(4 * seconds), card, settings)
    long, fed_long = _frames_seen(model, _clip(8 * seconds), card, settings)
    for analysis in (short, long):
        assert analysis.window_seconds == pytest.approx(seconds, abs=0.02)
        assert analysis.maps["occlusion"].values.shape[-1] == analysis.spectrogram.shape[-1]
    assert 1.8 < fed_long / fed_short < 2.3


def test_a_clip_up_to_twice_the_training_length_is_explained_whole(demo):
    model, card = demo
    analysis = analyze(_clip(1.5 * card.training["seconds"]), model, card, methods=("gradcam",),
                       settings=Settings(audio=False))
    assert analysis.window_seconds is None and "windows" not in analysis.maps["gradcam"].settings
