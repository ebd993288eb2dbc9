"""core.features: presets, shapes, batching, the VGGish front end against its published formulas,
and the pure-function / thin-module split (gradients from the waveform, no graph without them)."""

import numpy as np
import pytest
import scipy.fft
import torch
import torchaudio.functional as AF

from core.errors import ConfigError
from core.features import (
    PRESETS, FeatureConfig, Frontend, extract, feature_tensors, features_from, frame_times, log_mel, mel_band_hz,
    mel_spectrogram, mfcc, num_frames, patches, preset,
)

SR = 16_000


def tone(freq, seconds=1.0, sr=SR):
    t = torch.arange(int(seconds * sr)) / sr
    return 0.5 * torch.sin(2 * torch.pi * freq * t)


# --- An independent NumPy transcription of the formulas published with VGGish
# (tensorflow/models research/audioset/vggish/mel_features.py), used only as a reference.

def _np_frames(x, win, hop):
    n = 1 + (len(x) - win) // hop
    return np.stack([x[i * hop : i * hop + win] for i in range(n)])


def _np_periodic_hann(n):
    return 0.5 - 0.5 * np.cos(2 * np.pi / n * np.arange(n))


def _np_hz_to_mel(hz):
    return 1127.0 * np.log(1.0 + np.asarray(hz) / 700.0)


def _np_mel_matrix(n_mels, n_bins, sr, lo, hi):
    bins_mel = _np_hz_to_mel(np.linspace(0.0, sr / 2.0, n_bins))
    edges = np.linspace(_np_hz_to_mel(lo), _np_hz_to_mel(hi), n_mels + 2)
    w = np.empty((n_bins, n_mels))
    for i in range(n_mels):
        lower, centre, upper = edges[i : i + 3]
        w[:, i] = np.maximum(0.0, np.minimum((bins_mel - lower) / (centre - lower), (upper - bins_mel) / (upper - centre)))
    w[0, :] = 0.0
    return w


def _np_vggish_log_mel(x, sr=SR):
    win, hop = int(round(0.025 * sr)), int(round(0.010 * sr))
    fft = 2 ** int(np.ceil(np.log(win) / np.log(2.0)))
    spec = np.abs(np.fft.rfft(_np_frames(x, win, hop) * _np_periodic_hann(win), fft))
    return np.log(spec @ _np_mel_matrix(64, fft // 2 + 1, sr, 125.0, 7500.0) + 0.01)


def test_vggish_front_end_matches_published_formulas():
    rng = np.random.default_rng(0)
    x = (0.3 * np.sin(2 * np.pi * 440 * np.arange(SR * 2) / SR) + 0.05 * rng.standard_normal(SR * 2)).astype(np.float64)
    ours = log_mel(torch.from_numpy(x).float(), PRESETS["vggish"]).numpy().T  # (frames, bands)
    ref = _np_vggish_log_mel(x)
    assert ours.shape == ref.shape == (1 + (2 * SR - 400) // 160, 64)
    np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=0)


def test_vggish_and_yamnet_differ_only_where_published():
    v, y = PRESETS["vggish"], PRESETS["yamnet"]
    assert (v.log_offset, y.log_offset) == (0.01, 0.001)
    assert (v.patch_hop_frames, y.patch_hop_frames) == (96, 48)
    w = tone(1000)
    np.testing.assert_allclose(torch.exp(log_mel(w, v)) - 0.01, torch.exp(log_mel(w, y)) - 0.001, atol=1e-4)


def test_stft_versions_follow_s0_table_and_share_frame_count():
    windows = [PRESETS[f"stft-v{i}"].window_ms for i in range(1, 9)]
    assert windows == [15, 20, 25, 30, 35, 40, 45, 50]
    assert all(PRESETS[f"stft-v{i}"].overlap_ms == PRESETS[f"stft-v{i}"].window_ms - 10 for i in range(1, 9))
    wave = torch.randn(SR * 3 + 123) * 0.1
    shapes = {tuple(log_mel(wave, PRESETS[f"stft-v{i}"]).shape) for i in range(1, 9)}
    assert shapes == {(64, num_frames(wave.numel(), PRESETS["stft-v1"]))}


@pytest.mark.parametrize("name", list(PRESETS))
def test_batched_equals_one_by_one_and_finite(name):
    cfg = PRESETS[name]
    batch = torch.randn(3, SR) * torch.tensor([[0.01], [0.1], [0.5]])
    together = extract(batch, cfg)
    assert together.shape[-2] == cfg.n_bands
    assert torch.isfinite(together).all()
    for i in range(3):
        torch.testing.assert_close(together[i], extract(batch[i], cfg), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0])
def test_a_pure_tone_peaks_in_its_mel_band(freq):
    cfg = PRESETS["stft-v3"]
    spec = log_mel(tone(freq), cfg)
    peak_band = int(spec.mean(dim=-1).argmax())
    centres = mel_band_hz(cfg)
    assert abs(float(centres[peak_band]) - freq) <= 0.08 * freq + 60


def test_mfcc_is_dct_of_db_mel_as_librosa_defines_it():
    cfg = PRESETS["mfcc40"]
    wave = tone(440) + 0.01 * torch.randn(SR)
    ours = mfcc(wave, cfg).numpy()
    power_mel = AF.melscale_fbanks(cfg.n_freqs, 0.0, SR / 2, cfg.n_mels, SR, mel_scale="htk").T.numpy() @ (
        torch.stft(wave, cfg.fft_size, cfg.hop_length, cfg.win_length, torch.hann_window(cfg.win_length), return_complex=True).abs() ** 2
    ).numpy()
    db = 10 * np.log10(np.maximum(power_mel, 1e-10))
    db = np.maximum(db, db.max() - 80.0)
    ref = scipy.fft.dct(db, type=2, norm="ortho", axis=0)[:40]
    np.testing.assert_allclose(ours, ref, atol=2e-3, rtol=1e-4)


def test_patches_cover_every_frame_and_pad_with_the_floor():
    spec = torch.arange(64 * 250, dtype=torch.float32).reshape(64, 250)
    p = patches(spec, 96, 96)
    assert p.shape == (3, 64, 96)
    torch.testing.assert_close(p[1], spec[:, 96:192])
    assert torch.equal(p[2][:, : 250 - 192], spec[:, 192:])
    assert (p[2][:, 250 - 192 :] == spec.min()).all()
    assert patches(spec[:, :10], 96, 48).shape == (1, 64, 96)
    assert patches(spec, 96, 48).shape == (5, 64, 96)


def test_frame_times_are_in_seconds():
    cfg = PRESETS["stft-v8"]
    t = frame_times(num_frames(SR * 2, cfg), cfg)
    assert t[0] == 0 and abs(float(t[-1]) - 2.0) < 1e-6
    assert float(frame_times(1, PRESETS["vggish"])[0]) == pytest.approx(0.0125)


def test_config_round_trips_and_unknowns_are_refused():
    cfg = PRESETS["vggish"]
    assert FeatureConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="stft-v1"):
        preset("stft-v9")
    with pytest.raises(ConfigError, match="Unknown feature settings"):
        FeatureConfig.from_dict({**cfg.to_dict(), "hop_seconds": 1})


# --- Pure functions over precomputed tensors, thin module over them (as torchaudio splits them).

@pytest.mark.parametrize("name, samples", [("vggish", 720), ("stft-v3", 600), ("mfcc40", 480)])
def test_gradient_flows_from_the_waveform(name, samples):
    # vggish: log-mel, center=False frame padding, |STFT|; stft-v3: centred power log-mel; mfcc40: dB + DCT.
    cfg = PRESETS[name]
    wave = (0.1 * torch.randn(samples, generator=torch.Generator().manual_seed(0), dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda w: extract(w, cfg), (wave,), eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=True)
    extract(wave, cfg).sum().backward()
    assert wave.grad is not None and torch.isfinite(wave.grad).all() and wave.grad.abs().sum() > 0


@pytest.mark.parametrize("name", list(PRESETS))
def test_module_is_the_pure_function_over_its_buffers_and_batch_dims_pass_through(name):
    cfg = PRESETS[name]
    front = Frontend(cfg)
    fresh = feature_tensors(cfg)
    torch.testing.assert_close(front.window, fresh.window, atol=0, rtol=0)
    torch.testing.assert_close(front.filterbank, fresh.filterbank, atol=0, rtol=0)
    assert (front.dct is None) == (cfg.kind != "mfcc")
    if cfg.kind == "mfcc":
        torch.testing.assert_close(front.dct, fresh.dct, atol=0, rtol=0)
    waves = torch.randn(2, 3, SR // 2, generator=torch.Generator().manual_seed(1)) * 0.1
    out = front(waves)
    assert out.shape == (2, 3, cfg.n_bands, num_frames(SR // 2, cfg))
    assert torch.equal(out, features_from(waves, cfg, window=front.window, filterbank=front.filterbank, dct=front.dct))
    assert torch.equal(out, extract(waves, cfg))  # the cached tensors of the functions are the module's
    assert torch.equal(front.mel(waves), mel_spectrogram(waves, cfg, window=front.window, filterbank=front.filterbank))
    for i, j in [(0, 0), (1, 2)]:
        torch.testing.assert_close(out[i, j], front(waves[i, j]), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["vggish", "mfcc40"])
def test_a_wave_without_grad_builds_no_graph(name):
    cfg = PRESETS[name]
    wave = torch.randn(SR // 4) * 0.1
    for out in (extract(wave, cfg), log_mel(wave, cfg), mfcc(wave, cfg), Frontend(cfg)(wave)):
        assert not out.requires_grad and out.grad_fn is None


def test_mfcc_without_its_dct_is_refused():
    cfg = PRESETS["mfcc40"]
    t = feature_tensors(cfg)
    with pytest.raises(ConfigError, match="DCT"):
        features_from(torch.randn(SR // 4), cfg, window=t.window, filterbank=t.filterbank)


def test_mfcc_top_db_floor_is_per_clip():
    # Clips ~95 dB apart: a floor taken over the batch would flatten the quiet one to a constant.
    cfg = PRESETS["mfcc40"]
    batch = torch.randn(2, SR // 2, generator=torch.Generator().manual_seed(2)) * torch.tensor([[0.5], [1e-5]])
    together = mfcc(batch, cfg)
    for i in range(2):
        torch.testing.assert_close(together[i], mfcc(batch[i], cfg), atol=1e-3, rtol=1e-4)
