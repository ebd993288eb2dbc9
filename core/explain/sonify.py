"""Listening to explanations.

- ``focus_clip``: S3's method. Grad-CAM summed over frequency gives a time curve; it is
  upsampled to the sample rate, smoothed by a moving-average (ones) filter, normalised, and its
  positive region gates the waveform. Returns the focus clip and its complement.
- ``masked_audio``: phase-preserving masking for any map. The mel-grid mask is mapped onto the
  linear STFT grid through the mel filterbank, multiplies the clip's complex STFT, and the
  inverse STFT keeps the original phase (an all-ones mask gives the input back).
- ``griffin_lim_audio``: the masked mel spectrogram inverted without phase (torchaudio
  Griffin-Lim), kept for comparison: it is what "listening to a spectrogram" usually means.
"""

from __future__ import annotations

import functools

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio.transforms as T

from core.explain.maps import AttributionMap
from core.features import FeatureConfig, mel_band_hz, mel_filterbank


@dataclass(frozen=True)
class FocusSettings:
    smooth_ms: float = 250.0  # length of the moving-average (ones) filter
    threshold: float = 0.0  # keep where the normalised curve exceeds this (0: above its mean)
    fade_ms: float = 10.0  # ramps at the gate's edges, so cuts do not click


@dataclass(frozen=True)
class FocusResult:
    curve: np.ndarray  # normalised, smoothed time curve at the sample rate, in [-1, 1]
    gate: np.ndarray  # 0..1 per sample
    focus: torch.Tensor
    complement: torch.Tensor


def _moving_average(x: torch.Tensor, length: int) -> torch.Tensor:
    """Moving average with a ones filter of ``length`` samples, same length as ``x`` (edges
    replicated). Computed from a cumulative sum: O(n) whatever the filter length."""
    length = max(1, length)
    padded = F.pad(x[None, None].double(), (length // 2, length - 1 - length // 2), mode="replicate")[0, 0]
    sums = torch.cumsum(F.pad(padded, (1, 0)), dim=0)
    return ((sums[length:] - sums[:-length]) / length).to(x.dtype)


def time_curve_at_samples(attribution: AttributionMap, n_samples: int, sr: int) -> torch.Tensor:
    """The map summed over frequency, linearly interpolated at every sample time."""
    times = np.arange(n_samples) / sr
    return torch.from_numpy(np.interp(times, attribution.frame_times, attribution.time_profile())).float()


def focus_clip(wave: torch.Tensor, sr: int, attribution: AttributionMap,
               settings: FocusSettings = FocusSettings()) -> FocusResult:
    """S3's focus audio from a (Grad-CAM) map: gate the waveform by the smoothed time curve."""
    curve = time_curve_at_samples(attribution, wave.shape[-1], sr).to(wave.device)
    smooth = _moving_average(curve, int(round(settings.smooth_ms * sr / 1000)))
    centred = smooth - smooth.mean()
    peak = centred.abs().max()
    normalised = centred / peak if peak > 0 else centred
    gate = (normalised > settings.threshold).to(wave.dtype)
    if settings.fade_ms > 0:
        gate = _moving_average(gate, int(round(settings.fade_ms * sr / 1000)))
    return FocusResult(
        curve=normalised.cpu().numpy(),
        gate=gate.cpu().numpy(),
        focus=wave * gate,
        complement=wave * (1 - gate),
    )


def top_fraction_mask(values: np.ndarray, fraction: float = 0.2) -> np.ndarray:
    """Binary mask of the ``fraction`` of grid points with the highest positive attribution."""
    flat = values.ravel()
    k = int(round(fraction * flat.size))
    mask = np.zeros(flat.size, dtype=np.float32)
    if k > 0:
        top = np.argpartition(-flat, k - 1)[:k]
        mask[top[flat[top] > 0]] = 1.0
    return mask.reshape(values.shape)


def _stft_settings(cfg: FeatureConfig, device) -> dict:
    return dict(n_fft=cfg.fft_size, hop_length=cfg.hop_length, win_length=cfg.win_length,
                window=torch.hann_window(cfg.win_length, device=device), center=True)


def linear_mask(mask: np.ndarray, mask_times: np.ndarray, cfg: FeatureConfig, n_stft_frames: int) -> torch.Tensor:
    """A ``(bands, frames)`` mask on the feature grid -> ``(n_freqs, n_stft_frames)`` on the STFT grid.

    Time: interpolated from the map's frame times to the STFT's (centred) frame times.
    Frequency: each linear bin takes the filterbank-weighted mean of the mel bands covering it;
    bins no filter covers (below f_min, above f_max) take their nearest band. MFCC maps carry no
    frequency axis, so they act through time only.
    """
    stft_times = np.arange(n_stft_frames) * cfg.hop_length / cfg.sample_rate
    in_time = np.stack([np.interp(stft_times, mask_times, row) for row in mask])  # (bands, n_stft)
    if cfg.kind == "mfcc":
        per_frame = in_time.mean(axis=0, keepdims=True)
        return torch.from_numpy(np.repeat(per_frame, cfg.n_freqs, axis=0)).float()
    fb = mel_filterbank(cfg).numpy()  # (n_freqs, n_mels)
    weight = fb.sum(axis=1, keepdims=True)
    bins_hz = np.linspace(0, cfg.sample_rate / 2, cfg.n_freqs)
    nearest = np.abs(bins_hz[:, None] - mel_band_hz(cfg).numpy()[None, :]).argmin(axis=1)
    mixing = np.where(weight > 0, fb / np.maximum(weight, 1e-12), np.eye(cfg.n_mels)[nearest])
    return torch.from_numpy(mixing @ in_time).float()


def masked_audio(wave: torch.Tensor, cfg: FeatureConfig, mask: np.ndarray, mask_times: np.ndarray) -> torch.Tensor:
    """Multiply the clip's complex STFT by ``mask`` (feature grid) and invert with the original phase."""
    settings = _stft_settings(cfg, wave.device)
    spectrum = torch.stft(wave, return_complex=True, **settings)
    gain = linear_mask(mask, mask_times, cfg, spectrum.shape[-1]).to(wave.device)
    return torch.istft(spectrum * gain, length=wave.shape[-1], **settings)


def keep_and_remove(wave: torch.Tensor, cfg: FeatureConfig, attribution: AttributionMap,
                    fraction: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """Phase-preserving keep-only (top ``fraction`` of the map) and remove-only versions."""
    mask = top_fraction_mask(attribution.values, fraction)
    keep = masked_audio(wave, cfg, mask, attribution.frame_times)
    remove = masked_audio(wave, cfg, 1.0 - mask, attribution.frame_times)
    return keep, remove


def griffin_lim_audio(wave: torch.Tensor, cfg: FeatureConfig, mask: np.ndarray, mask_times: np.ndarray,
                      n_iter: int = 32) -> torch.Tensor:
    """Invert the masked mel spectrogram with torchaudio's Griffin-Lim (phase re-estimated).

    mel -> linear by the least-squares (minimum-norm) solution through the filterbank, clipped
    at zero, as torchaudio's ``InverseMelScale`` does, here with our filterbank so VGGish's
    mel-linear one works too. We use the pseudo-inverse: torch 2.11's default CPU ``lstsq``
    driver (gelsy) returns zeros for this rank-deficient system, and CUDA has no SVD driver.
    """
    settings = _stft_settings(cfg, wave.device)
    magnitude = torch.stft(wave, return_complex=True, **settings).abs() ** cfg.power
    fb = mel_filterbank(cfg).to(wave.device)
    mel = fb.T @ magnitude
    stft_times = np.arange(mel.shape[-1]) * cfg.hop_length / cfg.sample_rate
    in_time = np.stack([np.interp(stft_times, mask_times, row) for row in mask])
    if cfg.kind == "mfcc":
        in_time = np.repeat(in_time.mean(axis=0, keepdims=True), cfg.n_mels, axis=0)
    mel = mel * torch.from_numpy(in_time).float().to(wave.device)
    linear = (_mel_pinv(cfg).to(wave.device) @ mel).clamp_min(0.0)
    griffin = T.GriffinLim(n_fft=cfg.fft_size, n_iter=n_iter, win_length=cfg.win_length, hop_length=cfg.hop_length,
                           power=cfg.power, rand_init=False).to(wave.device)
    return _pad_to(griffin(linear), wave.shape[-1])


@functools.lru_cache(maxsize=16)
def _mel_pinv(cfg: FeatureConfig) -> torch.Tensor:
    """Pseudo-inverse of the mel filterbank (about 1 s of SVD on a CPU), once per feature config."""
    return torch.linalg.pinv(mel_filterbank(cfg).T)


def _pad_to(x: torch.Tensor, n: int) -> torch.Tensor:
    return F.pad(x, (0, max(0, n - x.shape[-1])))[..., :n]
