"""Training-time data augmentation on batched tensors, on their device.

Pure functions (``gain``, ``vtlp``, ``freq_mask``, ``time_mask``) plus ``Augmentation``, the frozen
policy the training loop builds from ``TrainConfig`` and applies to every training batch (never
to evaluation). Features are ``(B, bands, frames)`` as ``core.features`` makes them; waves are
``(B, samples)``.

* **Speed perturbation** (``speed``; Ko, Peddinti, Povey, Khudanpur, "Audio augmentation for
  speech recognition", Interspeech 2015): each wave resampled by ``torchaudio.functional.speed`` with
  a factor drawn from a 0.05-step grid in ``[1 - max_dev, 1 + max_dev]`` (the paper: 0.9, 1.0, 1.1),
  which changes tempo and pitch together. The clip's span in its row is rescaled with it; a row
  that grew is cropped about the clip, one that shrank is filled with noise at its own background
  level (``core.audio.noise_floors``), so noise-floor padding stays noise-floor padding.
* **Reverberation** (``reverb``): with probability ``p`` a clip is convolved
  (``torchaudio.functional.fftconvolve``) with a synthetic room impulse response, exponentially
  decaying Gaussian noise after a unit direct path, RT60 ~ U(0.2, 0.8) s (the usual stand-in when
  no measured RIRs are at hand); the clip keeps its RMS level.
* **Additive noise** (``noise``): white noise at an SNR drawn from ``U(snr, snr + 20)`` dB
  (``torchaudio.functional.add_noise``).
* **Random gain** (``gain``): each wave scaled by ``10 ** (g / 20)``, ``g ~ U(-max_db, max_db)``,
  before the front end, so the log offset / dB floor sees the scaled signal as a quieter or louder
  recording would.
* **VTLP**, vocal-tract-length perturbation (Jaitly & Hinton, "Vocal Tract Length Perturbation
  (VTLP) improves speech recognition", ICML WDLASL 2013): a random per-clip factor
  ``alpha ~ U(1 - max_dev, 1 + max_dev)`` warps frequency with their piecewise-linear map (``f ->
  alpha f`` up to ``f_hi * min(alpha, 1) / alpha``, then a line to Nyquist, which stays fixed;
  ``f_hi`` = 4800 Hz). The paper warps the filterbank's centre frequencies; here the log-mel
  value of each band is read at its warped centre frequency by linear interpolation between
  neighbouring bands (mel centres of the preset, ``core.features.mel_band_hz``), which is that
  warp on the band grid. MFCC features are warped in the log-mel domain they come from: the
  orthonormal DCT is inverted onto the mel bands (the kept coefficients give a smoothed dB mel
  spectrum), warped and transformed back, so ``alpha = 1`` returns the input.
* **SpecAugment** masking (Park et al., Interspeech 2019): ``count`` frequency masks of
  ``[0, max_width)`` bands and ``count`` time masks of ``[0, max_width)`` frames per clip, drawn
  independently per clip by ``torchaudio.functional.mask_along_axis_iid``. The masked cells take
  the clip's mean feature value (``fill="mean"``; SpecAugment masks normalised features with 0,
  their mean) or a given number. Frequency masks on MFCCs act on the log-mel domain, as VTLP.

Randomness comes from torch's global generator (as dropout's does): the training loop re-seeds
it from ``(seed, epoch, rank)`` at the start of every epoch, so a resumed run draws the same
augmentations as an uninterrupted one. Tests seed it with ``torch.manual_seed``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import functools

import torch
import torchaudio.functional as AF
import torchaudio.transforms as T

from core.audio import noise_floors
from core.errors import ConfigError
from core.features import FeatureConfig, mel_band_hz

VTLP_F_HI = 4800.0  # Jaitly & Hinton 2013: upper boundary frequency of the linear part of the warp


# ----------------------------------------------------------------------------- waves

SPEED_STEP = 0.05  # speed factors on a grid: torchaudio resamples by the ratio's reduced fraction (21/20, ...)
RT60_SECONDS = (0.2, 0.8)  # synthetic rooms: a small office to a reverberant hall
NOISE_SNR_SPAN_DB = 20.0  # additive-noise SNR ~ U(snr, snr + span)


def speed_factors(max_dev: float) -> list[float]:
    """The speed grid: 1 and every ``1 +- k * SPEED_STEP`` within ``max_dev`` (0.1 -> 0.9, 0.95, 1, 1.05, 1.1)."""
    steps = int(round(max_dev / SPEED_STEP, 6))
    return [round(1 + k * SPEED_STEP, 6) for k in range(-steps, steps + 1)]


@functools.lru_cache(maxsize=32)
def _speed_transform(sr: int, factor: float, device: torch.device) -> T.Speed:
    """torchaudio's speed change with its resampling kernel built once per (rate, factor, device)."""
    return T.Speed(sr, factor).to(device)


def speed(waves: torch.Tensor, spans: torch.Tensor | None, max_dev: float, sr: int,
          ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Speed-perturb each row of ``(B, samples)`` by a random grid factor; rows keep their length.

    ``spans`` ``(B, 2)``: where each clip lies in its row (start, samples), rescaled and returned so the caller
    can still place the clip (``core.audio.shift_within``); ``None`` treats each row as one clip.
    """
    if max_dev <= 0:
        return waves, spans
    n = waves.shape[-1]
    factors = speed_factors(max_dev)
    chosen = torch.randint(len(factors), (waves.shape[0],))
    span = spans.to(torch.float64) if spans is not None else torch.tensor([[0.0, n]]).expand(waves.shape[0], 2)
    out, new_spans = waves.clone(), span.clone()
    for k in chosen.unique().tolist():
        rows, factor = (chosen == k).nonzero().flatten(), factors[k]
        if factor == 1.0:
            continue
        rows_here = waves[rows.to(waves.device)]
        stretched, _ = _speed_transform(sr, factor, waves.device)(rows_here)
        start, length = span[rows, 0] / factor, (span[rows, 1] / factor).clamp(max=n)
        m = stretched.shape[-1]
        if m >= n:  # crop a window of n about each clip's centre
            first = (start + length / 2 - n / 2).round().clamp(0, m - n).long()
            index = first[:, None].to(waves.device) + torch.arange(n, device=waves.device)
            stretched = stretched.gather(1, index)
            start = (start - first).clamp(min=0)
        else:  # fill the end with the row's own background
            fill = torch.randn(len(rows), n - m, device=waves.device, dtype=waves.dtype) * noise_floors(rows_here, sr)[:, None]
            stretched = torch.cat([stretched, fill], dim=1)
        out[rows.to(waves.device)] = stretched
        new_spans[rows, 0], new_spans[rows, 1] = start.floor(), length.floor().clamp(max=n - start.floor())
    return out, (new_spans.to(spans.dtype) if spans is not None else None)


def room_impulses(n: int, sr: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` synthetic room impulse responses ``(n, samples)``: a unit direct path, then Gaussian noise decaying by
    60 dB over an RT60 drawn from ``RT60_SECONDS``."""
    rt60 = torch.empty(n, device=device).uniform_(*RT60_SECONDS)
    t = torch.arange(int(RT60_SECONDS[1] * sr), device=device) / sr
    rir = torch.randn(n, len(t), device=device) * torch.pow(10.0, -3.0 * t[None, :] / rt60[:, None])  # -60 dB at RT60
    rir[:, 0] = 1.0
    return rir / rir.norm(dim=1, keepdim=True)


def reverb(waves: torch.Tensor, p: float, sr: int) -> torch.Tensor:
    """Convolve each row of ``(B, samples)`` with probability ``p`` with a synthetic room; RMS levels kept."""
    if p <= 0:
        return waves
    rows = (torch.rand(waves.shape[0], device=waves.device) < p).nonzero().flatten()
    if len(rows) == 0:
        return waves
    dry = waves[rows]
    wet = AF.fftconvolve(dry, room_impulses(len(rows), sr, waves.device).to(waves.dtype))[:, : waves.shape[-1]]
    gain_back = dry.pow(2).mean(dim=1, keepdim=True).sqrt() / wet.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-12)
    out = waves.clone()
    out[rows] = wet * gain_back
    return out


def noise(waves: torch.Tensor, snr_db: float) -> torch.Tensor:
    """White noise on each row of ``(B, samples)`` at an SNR drawn from ``U(snr_db, snr_db + 20)`` dB."""
    if snr_db <= 0:
        return waves
    snr = snr_db + torch.rand(waves.shape[0], device=waves.device, dtype=waves.dtype) * NOISE_SNR_SPAN_DB
    return AF.add_noise(waves, torch.randn_like(waves), snr)


def gain(waves: torch.Tensor, max_db: float) -> torch.Tensor:
    """Scale each wave ``(B, samples)`` by a random gain in ``[-max_db, max_db]`` dB."""
    if max_db <= 0:
        return waves
    db = (torch.rand(waves.shape[0], device=waves.device, dtype=waves.dtype) * 2 - 1) * max_db
    return waves * torch.pow(10.0, db / 20.0)[:, None]


# ----------------------------------------------------------------------------- VTLP


def vtlp_factors(n: int, max_dev: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` warp factors drawn from ``U(1 - max_dev, 1 + max_dev)`` (Jaitly & Hinton: 0.1)."""
    return 1.0 + (torch.rand(n, device=device) * 2 - 1) * max_dev


def vtlp_source_hz(hz: torch.Tensor, alpha: torch.Tensor, nyquist: float, f_hi: float = VTLP_F_HI) -> torch.Tensor:
    """Inverse of the VTLP warp: for output frequencies ``hz`` ``(F,)`` and factors ``alpha`` ``(B,)``,
    the input frequencies ``(B, F)`` whose energy the warp moves there.

    The forward warp is ``w(f) = alpha f`` for ``f <= b = f_hi min(alpha, 1) / alpha``, else
    ``nyq - (nyq - alpha b) / (nyq - b) * (nyq - f)``: continuous, increasing, ``w(0) = 0``,
    ``w(nyq) = nyq``.
    """
    alpha = alpha[:, None].to(torch.float64)
    g = hz[None, :].to(torch.float64)
    b_out = f_hi * alpha.clamp(max=1.0)  # w(b): where the linear part ends, on the output axis
    b_in = b_out / alpha
    upper = nyquist - (nyquist - g) * (nyquist - b_in) / (nyquist - b_out)
    return torch.where(g <= b_out, g / alpha, upper)


def _hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    return 1127.0 * torch.log1p(hz / 700.0)  # HTK, as core.features' band centres


def _dct(cfg: FeatureConfig, x: torch.Tensor) -> torch.Tensor:
    """The front end's orthonormal DCT-II matrix ``(n_mels, n_mfcc)`` (``mfcc = dct.T @ dB mel``)."""
    return AF.create_dct(cfg.n_mfcc, cfg.n_mels, norm="ortho").to(device=x.device, dtype=x.dtype)


def _in_mel_domain(x: torch.Tensor, cfg: FeatureConfig, fn) -> torch.Tensor:
    """Apply ``fn`` to log-mel features; MFCCs go to their (smoothed) dB mel bands and back."""
    if cfg.kind != "mfcc":
        return fn(x)
    dct = _dct(cfg, x)
    return dct.T @ fn(dct @ x)


def warp_bands(x: torch.Tensor, alpha: torch.Tensor, cfg: FeatureConfig, f_hi: float = VTLP_F_HI) -> torch.Tensor:
    """VTLP of log-mel features ``(B, n_mels, T)`` with per-clip factors ``alpha`` ``(B,)``.

    Band ``i`` of the output is the input read, by linear interpolation between bands, at the
    source frequency of band ``i``'s centre; sources beyond the outer bands take the outer band.
    """
    centres = mel_band_hz(cfg).to(device=x.device, dtype=torch.float64)
    source = vtlp_source_hz(centres, alpha.to(x.device), cfg.sample_rate / 2, f_hi)  # (B, bands)
    mel_c = _hz_to_mel(centres)
    n = x.shape[-2]
    position = (_hz_to_mel(source) - mel_c[0]) / ((mel_c[-1] - mel_c[0]) / (n - 1))  # fractional band index
    nearest = position.round()  # the centres are float32: snap the float noise so alpha 1 is exact
    position = torch.where((position - nearest).abs() < 1e-4, nearest, position).clamp(0, n - 1)
    low = position.floor().long().clamp(max=n - 1)
    high = (low + 1).clamp(max=n - 1)
    frac = (position - low).to(x.dtype)[..., None]  # (B, bands, 1)
    frames = x.shape[-1]
    lo = torch.gather(x, -2, low[..., None].expand(-1, -1, frames))
    hi = torch.gather(x, -2, high[..., None].expand(-1, -1, frames))
    return torch.lerp(lo, hi, frac)


def vtlp(x: torch.Tensor, alpha: torch.Tensor, cfg: FeatureConfig, f_hi: float = VTLP_F_HI) -> torch.Tensor:
    """VTLP of features ``(B, bands, T)`` made with ``cfg`` (log-mel, or MFCC through its mel bands)."""
    if x.shape[-2] != cfg.n_bands:
        raise ConfigError(f"VTLP got {x.shape[-2]} feature rows but the '{cfg.name}' features have {cfg.n_bands}.")
    return _in_mel_domain(x, cfg, lambda m: warp_bands(m, alpha, cfg, f_hi))


# ----------------------------------------------------------------------------- SpecAugment


def _mask(x: torch.Tensor, max_width: int, count: int, axis: int, fill: float | str) -> torch.Tensor:
    if max_width <= 0 or count <= 0:
        return x
    value = x.mean(dim=(-2, -1), keepdim=True) if fill == "mean" else torch.full_like(x[..., :1, :1], float(fill))
    marker = torch.ones_like(x[..., :, :])
    for _ in range(count):  # torchaudio draws one span per clip (leading dims) per call
        marker = AF.mask_along_axis_iid(marker, max_width, 0.0, axis=x.dim() + axis)
    return torch.where(marker == 0, value.expand_as(x), x)


def freq_mask(x: torch.Tensor, max_width: int, count: int = 1, fill: float | str = "mean") -> torch.Tensor:
    """``count`` SpecAugment frequency masks per clip of ``(B, bands, T)``, each ``[0, max_width)`` bands wide."""
    return _mask(x, max_width, count, -2, fill)


def time_mask(x: torch.Tensor, max_width: int, count: int = 1, fill: float | str = "mean") -> torch.Tensor:
    """``count`` SpecAugment time masks per clip of ``(B, bands, T)``, each ``[0, max_width)`` frames wide."""
    return _mask(x, max_width, count, -1, fill)


# ----------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class Augmentation:
    """What the training loop does to each training batch; the defaults do nothing."""

    speed: float = 0.0  # speed perturbation: factors on a 0.05 grid in 1 +- speed (Ko et al. 2015: 0.1)
    reverb: float = 0.0  # share of clips put in a synthetic room
    noise_snr: float = 0.0  # white noise at SNR in [noise_snr, noise_snr + 20] dB (0: off)
    gain_db: float = 0.0  # random gain in [-gain_db, gain_db] dB on the waves
    vtlp: float = 0.0  # VTLP factor range 1 +- vtlp (Jaitly & Hinton: 0.1)
    freq_mask: int = 0  # SpecAugment F: frequency mask width < freq_mask bands
    time_mask: int = 0  # SpecAugment T: time mask width < time_mask frames
    masks: int = 2  # masks of each kind per clip (SpecAugment's m_F = m_T)

    def __post_init__(self) -> None:
        checks = [
            (0 <= self.speed <= 0.3, f"speed={self.speed}: use a deviation in [0, 0.3], e.g. 0.1 for 0.9..1.1 (0: off)."),
            (0 <= self.reverb <= 1, f"reverb={self.reverb}: use the share of clips to reverberate, in [0, 1] (0: off)."),
            (self.noise_snr >= 0, f"noise_snr={self.noise_snr}: use the lowest SNR in dB, e.g. 10 (0: off)."),
            (self.gain_db >= 0, f"gain_db={self.gain_db}: use a range in dB >= 0, e.g. 6 (0: off)."),
            (0 <= self.vtlp < 0.5, f"vtlp={self.vtlp}: use a warp range in [0, 0.5), e.g. 0.1 for factors 0.9..1.1 (0: off)."),
            (isinstance(self.freq_mask, int) and self.freq_mask >= 0,
             f"freq_mask={self.freq_mask!r}: use a whole number of bands >= 0 (0: off)."),
            (isinstance(self.time_mask, int) and self.time_mask >= 0,
             f"time_mask={self.time_mask!r}: use a whole number of frames >= 0 (0: off)."),
            (isinstance(self.masks, int) and self.masks >= 1, f"masks={self.masks!r}: use a whole number >= 1."),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    @property
    def on_features(self) -> bool:
        return bool(self.vtlp or self.freq_mask or self.time_mask)

    def __bool__(self) -> bool:
        return bool(self.speed or self.reverb or self.noise_snr or self.gain_db) or self.on_features

    def to_dict(self) -> dict:
        return asdict(self)

    def stretch(self, waves: torch.Tensor, spans: torch.Tensor | None, sr: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Speed perturbation of ``(B, samples)``, before the clips are placed in their rows (see ``speed``)."""
        return speed(waves, spans, self.speed, sr)

    def waves(self, waves: torch.Tensor, sr: int = 16_000) -> torch.Tensor:
        """The rest of the wave-domain part of ``(B, samples)``: reverberation, noise, then random gain."""
        return gain(noise(reverb(waves, self.reverb, sr), self.noise_snr), self.gain_db)

    def features(self, x: torch.Tensor, cfg: FeatureConfig) -> torch.Tensor:
        """Feature-domain part of ``(B, bands, T)`` made with ``cfg``: VTLP, then frequency and time masks."""
        if not self.on_features:
            return x
        if self.vtlp:
            x = vtlp(x, vtlp_factors(x.shape[0], self.vtlp, x.device), cfg)
        if self.freq_mask:
            x = _in_mel_domain(x, cfg, lambda m: freq_mask(m, self.freq_mask, self.masks))
        if self.time_mask:
            x = time_mask(x, self.time_mask, self.masks)
        return x
