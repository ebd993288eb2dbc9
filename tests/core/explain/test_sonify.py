"""Listening to explanations: exact reconstruction, keep + remove = input, S3 gate placement."""

import numpy as np
import pytest
import torch

from core.explain.maps import AttributionMap
from core.explain.sonify import (
    FocusSettings, focus_clip, griffin_lim_audio, keep_and_remove, linear_mask, masked_audio, top_fraction_mask,
)
from core.features import PRESETS, extract, frame_times, mel_band_hz

SR = 16_000


def speechlike(seconds=2.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * SR)) / SR
    return 0.3 * torch.sin(2 * torch.pi * 220 * t) * (1 + torch.sin(2 * torch.pi * 3 * t)) + 0.02 * torch.randn(t.shape, generator=g)


def map_of(values, cfg):
    bands = np.arange(cfg.n_mfcc, dtype=np.float32) if cfg.kind == "mfcc" else mel_band_hz(cfg).numpy()
    return AttributionMap("test", values.astype(np.float32), 0, "x", frame_times(values.shape[1], cfg).numpy(), bands)


def snr_db(reference, estimate):
    return float(10 * torch.log10((reference**2).sum() / ((reference - estimate) ** 2).sum()))


@pytest.mark.parametrize("preset", ["stft-v1", "stft-v8", "vggish", "mfcc40"])
def test_an_all_ones_mask_reconstructs_the_input_above_60_db(preset):
    cfg = PRESETS[preset]
    wave = speechlike()
    shape = tuple(extract(wave, cfg).shape)
    out = masked_audio(wave, cfg, np.ones(shape), frame_times(shape[1], cfg).numpy())
    assert out.shape == wave.shape
    assert snr_db(wave, out) > 60


def test_keep_and_remove_add_up_to_the_input_and_differ():
    cfg = PRESETS["stft-v8"]
    wave = speechlike()
    shape = tuple(extract(wave, cfg).shape)
    values = np.random.default_rng(0).random(shape)
    keep, remove = keep_and_remove(wave, cfg, map_of(values, cfg), fraction=0.3)
    assert snr_db(wave, keep + remove) > 60
    assert 0.05 < float((keep**2).sum() / (wave**2).sum()) < 0.95


def test_a_mask_on_low_bands_keeps_low_frequencies_only():
    cfg = PRESETS["stft-v8"]
    t = torch.arange(SR * 2) / SR
    wave = 0.3 * torch.sin(2 * torch.pi * 200 * t) + 0.3 * torch.sin(2 * torch.pi * 4000 * t)
    shape = tuple(extract(wave, cfg).shape)
    mask = np.zeros(shape)
    mask[mel_band_hz(cfg).numpy() < 1000] = 1.0
    out = masked_audio(wave, cfg, mask, frame_times(shape[1], cfg).numpy())
    spectrum = torch.fft.rfft(out).abs()  # 0.5 Hz per bin
    assert spectrum[400] > 100 * spectrum[8000]


def test_linear_mask_maps_time_and_frequency():
    cfg = PRESETS["stft-v8"]
    mask = np.zeros((64, 201))
    mask[:, 100:] = 1.0
    lin = linear_mask(mask, frame_times(201, cfg).numpy(), cfg, 201).numpy()
    assert lin.shape == (cfg.n_freqs, 201)
    assert (lin[:, :99] == 0).all() and (lin[:, 101:] == 1).all()


def test_focus_clip_gates_the_region_grad_cam_points_at():
    cfg = PRESETS["stft-v8"]
    wave = speechlike(3.0)
    values = np.zeros((64, 301))
    values[:, 120:180] = 1.0  # 1.2 s .. 1.8 s
    result = focus_clip(wave, SR, map_of(values, cfg), FocusSettings(smooth_ms=100))
    gate = result.gate
    assert gate.shape == (3 * SR,) and gate.min() >= 0 and gate.max() <= 1 + 1e-6
    assert gate[int(1.35 * SR) : int(1.65 * SR)].min() > 0.99
    assert gate[: int(0.9 * SR)].max() < 0.01 and gate[int(2.1 * SR) :].max() < 0.01
    torch.testing.assert_close(result.focus + result.complement, wave)
    assert result.curve.max() == pytest.approx(1.0) or result.curve.min() == pytest.approx(-1.0)


def test_griffin_lim_version_is_finite_and_sized():
    cfg = PRESETS["stft-v8"]
    wave = speechlike()
    shape = tuple(extract(wave, cfg).shape)
    out = griffin_lim_audio(wave, cfg, np.ones(shape), frame_times(shape[1], cfg).numpy(), n_iter=32)
    assert out.shape == wave.shape and torch.isfinite(out).all()
    # magnitude-only inversion keeps the spectral envelope: the 220 Hz tone dominates ...
    spectrum = torch.fft.rfft(out).abs()
    assert int(spectrum.argmax()) == pytest.approx(440, abs=4)
    # ... and the band powers follow the original's within the audible 60 dB below the peak
    def band_db(w):
        power = extract(w, cfg).exp().mean(-1).numpy()
        return np.maximum(10 * np.log10(power), 10 * np.log10(power.max()) - 60)

    assert np.corrcoef(band_db(wave), band_db(out))[0, 1] > 0.9


def test_top_fraction_mask_keeps_only_positive_top_values():
    values = np.array([[5.0, -1.0], [3.0, -2.0]])
    np.testing.assert_array_equal(top_fraction_mask(values, 0.5), [[1, 0], [1, 0]])
    np.testing.assert_array_equal(top_fraction_mask(-np.abs(values), 0.5), np.zeros((2, 2)))
