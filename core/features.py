"""Feature front ends: a frozen ``FeatureConfig`` per preset, log-mel / MFCC functions, patches.

Shape convention: a waveform ``(..., samples)`` becomes ``(..., n_mels, frames)`` (or
``(..., n_mfcc, frames)``); any leading batch dims pass through, and the computation runs on
the waveform's device. As in torchaudio, the computation is pure functions over precomputed
tensors (``mel_spectrogram`` / ``features_from`` taking ``feature_tensors``), differentiable from
the waveform; ``Frontend`` is the thin module holding those tensors as buffers, which the training
loop and the data pipeline keep on their device.
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass, field, replace
from typing import Literal, NamedTuple

import torch
import torchaudio.functional as AF

from core.errors import ConfigError


@dataclass(frozen=True)
class FeatureConfig:
    """Everything that turns a waveform into model input. Derived sizes are properties."""

    name: str
    kind: Literal["log-mel", "mfcc"] = "log-mel"
    sample_rate: int = 16_000
    window_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int | None = None  # None: next power of two >= the window
    n_mels: int = 64
    f_min: float = 0.0
    f_max: float | None = None  # None: Nyquist
    log_offset: float = 1e-6
    power: float = 2.0  # 2: power spectrum, 1: magnitude
    center: bool = True  # torch.stft-style centre padding (frame count independent of the window)
    mel_triangles: Literal["hz", "mel"] = "hz"  # torchaudio's Hz-linear triangles, or VGGish/TF's mel-linear
    zero_dc: bool = False  # VGGish and TF zero the DC bin's filter weights
    n_mfcc: int = 40
    patch_frames: int = 96  # patch models (S3) see this many frames at a time
    patch_hop_frames: int = 96
    source: str = field(default="", compare=False)

    @property
    def win_length(self) -> int:
        return int(round(self.sample_rate * self.window_ms / 1000))

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))

    @property
    def overlap_ms(self) -> float:
        return self.window_ms - self.hop_ms

    @property
    def fft_size(self) -> int:
        return self.n_fft or 2 ** math.ceil(math.log2(self.win_length))

    @property
    def n_freqs(self) -> int:
        return self.fft_size // 2 + 1

    @property
    def top_hz(self) -> float:
        return self.f_max if self.f_max is not None else self.sample_rate / 2

    @property
    def n_bands(self) -> int:
        """Rows of the feature image: mel bands or MFCC coefficients."""
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"Unknown feature settings {sorted(unknown)}; known ones are {sorted(known)}.")
        return cls(**data)


def _stft_version(i: int) -> FeatureConfig:
    window = 10 + 5 * i  # v1 = 15 ms ... v8 = 50 ms
    return FeatureConfig(
        name=f"stft-v{i}",
        window_ms=window,
        n_fft=1024,  # one FFT size for all (>= the 50 ms window) so only the window varies; 256 leaves empty mel filters
        hop_ms=10.0,  # overlap = window - 10 ms, so every version has the same hop and frame count
        source=f"S0 (Kim & Kwon, arXiv 2409.04007) Table 1: STFT version {i}, {window} ms window, "
        f"{window - 10} ms overlap, 64 log-mel bands",
    )


PRESETS: dict[str, FeatureConfig] = {
    **{f"stft-v{i}": _stft_version(i) for i in range(1, 9)},
    # tensorflow/models research/audioset/vggish/vggish_params.py + mel_features.py
    "vggish": FeatureConfig(
        name="vggish",
        window_ms=25.0,
        hop_ms=10.0,
        n_fft=512,
        n_mels=64,
        f_min=125.0,
        f_max=7500.0,
        log_offset=0.01,
        power=1.0,
        center=False,
        mel_triangles="mel",
        zero_dc=True,
        patch_frames=96,
        patch_hop_frames=96,
        source="VGGish vggish_params.py: 16 kHz, 25 ms periodic Hann, 10 ms hop, |STFT| 512, "
        "64 HTK mel bands 125-7500 Hz, log(mel + 0.01), 0.96 s examples, 0.96 s hop",
    ),
    # tensorflow/models research/audioset/yamnet/params.py: same front end, other offset and hop
    "yamnet": FeatureConfig(
        name="yamnet",
        window_ms=25.0,
        hop_ms=10.0,
        n_fft=512,
        n_mels=64,
        f_min=125.0,
        f_max=7500.0,
        log_offset=0.001,
        power=1.0,
        center=False,
        mel_triangles="mel",
        zero_dc=True,
        patch_frames=96,
        patch_hop_frames=48,
        source="YAMNet params.py: as VGGish but log(mel + 0.001) and a 0.48 s patch hop",
    ),
    # S3 (Kim & Kwak, Appl. Sci. 2024) Tables 2-3, the front end as published: it does not fit the public converted
    # VGGish/YAMNet weights (trained on the 16 kHz "vggish" front end); clips are resampled to 48 kHz on loading.
    "s3-48k": FeatureConfig(
        name="s3-48k",
        sample_rate=48_000,  # Table 3: "Sampling Rate 48,000"
        window_ms=25.0,  # Table 2: "Window Size 1200" samples = 25 ms at 48 kHz
        hop_ms=10.0,  # Table 2: "Overlapping Size 720": hop 1200 - 720 = 480 samples = 10 ms
        n_fft=1200,  # Table 3: "FFT Length 1200"
        n_mels=64,  # Table 3: "Number of Frequency Band 64 channels", "Frequency Scale Mel"
        f_min=0.0,
        f_max=None,
        log_offset=1e-6,
        power=2.0,
        center=False,
        patch_frames=96,
        patch_hop_frames=96,
        source="S3 (Kim & Kwak, Appl. Sci. 2024) Tables 2-3: 48 kHz, window 1200, overlap 720 (hop 480), "
        "Hann 'periodic', FFT 1200, one-sided ('One-way'), 64 mel bands, log-Mel. Paper silent on the band "
        "edges, power, log offset, padding and mel triangles: we choose 0 Hz to Nyquist, the power spectrum and "
        "frames without padding, the defaults of MATLAB's melSpectrogram, whose option names the tables use; "
        "log(mel + 1e-6) and torchaudio's HTK triangles, as our stft-v* presets; 0.96 s patches (96 frames) as "
        "VGGish's, because the trunks take 96 x 64",
    ),
    "mfcc40": FeatureConfig(
        name="mfcc40",
        kind="mfcc",
        window_ms=25.0,
        hop_ms=10.0,
        n_mels=64,
        n_mfcc=40,
        source="S2 (Mountzouris et al., Electronics 2023): 40 MFCCs per frame as a sequence; "
        "DCT-II (ortho) of the dB mel spectrogram as librosa computes it; 25/10 ms framing is ours",
    ),
}


def preset(name: str) -> FeatureConfig:
    """The named preset, or a ``ConfigError`` listing the known names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"Unknown feature preset '{name}'. Known presets: {', '.join(PRESETS)}.") from None


def mel_filterbank(cfg: FeatureConfig) -> torch.Tensor:
    """Mel filterbank ``(n_freqs, n_mels)`` for ``cfg``.

    Hz-linear triangles come from torchaudio. VGGish and YAMNet (like TF's
    ``linear_to_mel_weight_matrix``) draw triangles linear in *mel* and zero the DC bin; no
    library we use builds that, so it is computed here from the published formula.
    """
    if cfg.mel_triangles == "hz":
        fb = AF.melscale_fbanks(cfg.n_freqs, cfg.f_min, cfg.top_hz, cfg.n_mels, cfg.sample_rate, mel_scale="htk")
    else:
        bin_mel = _hz_to_mel_htk(torch.linspace(0, cfg.sample_rate / 2, cfg.n_freqs, dtype=torch.float64))
        edges = torch.linspace(_hz_to_mel_htk(cfg.f_min), _hz_to_mel_htk(cfg.top_hz), cfg.n_mels + 2, dtype=torch.float64)
        lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
        rising = (bin_mel[:, None] - lower) / (centre - lower)
        falling = (upper - bin_mel[:, None]) / (upper - centre)
        fb = torch.clamp(torch.minimum(rising, falling), min=0.0).to(torch.float32)
    if cfg.zero_dc:
        fb[0, :] = 0.0
    return fb


def _hz_to_mel_htk(hz):
    return 1127.0 * torch.log1p(torch.as_tensor(hz, dtype=torch.float64) / 700.0)


class FeatureTensors(NamedTuple):
    """The precomputed tensors the feature functions take: window, filterbank, DCT (MFCC only)."""

    window: torch.Tensor  # (win_length,) periodic Hann
    filterbank: torch.Tensor  # (n_freqs, n_mels)
    dct: torch.Tensor | None  # (n_mels, n_mfcc), or None for log-mel


def feature_tensors(cfg: FeatureConfig, device: torch.device | str = "cpu",
                    dtype: torch.dtype = torch.float32) -> FeatureTensors:
    """Fresh tensors for ``cfg`` on ``device`` in ``dtype``, to pass to ``features_from`` (as
    torchaudio's transforms hold ``melscale_fbanks`` / ``create_dct`` results as buffers)."""
    window = torch.hann_window(cfg.win_length, dtype=dtype, device=device)  # periodic, as VGGish's periodic_hann
    filterbank = mel_filterbank(cfg).to(device=device, dtype=dtype)
    dct = AF.create_dct(cfg.n_mfcc, cfg.n_mels, norm="ortho").to(device=device, dtype=dtype) if cfg.kind == "mfcc" else None
    return FeatureTensors(window, filterbank, dct)


def mel_spectrogram(wave: torch.Tensor, cfg: FeatureConfig, *, window: torch.Tensor,
                    filterbank: torch.Tensor) -> torch.Tensor:
    """Linear mel spectrogram ``(..., n_mels, frames)`` of ``wave`` ``(..., samples)``.

    Pure and differentiable: a ``wave`` that requires grad gets one; the tensors come from
    ``feature_tensors`` (or a ``Frontend``'s buffers) in the wave's dtype and device.
    """
    # torch.stft centres a shorter window inside n_fft; padding by that offset makes frame i
    # start at sample i * hop as in VGGish's framing (magnitudes are shift-invariant).
    frame_pad = (cfg.fft_size - cfg.win_length) // 2 if not cfg.center else 0
    if frame_pad:
        wave = torch.nn.functional.pad(wave, (frame_pad, frame_pad))
    spec = AF.spectrogram(wave, pad=0, window=window, n_fft=cfg.fft_size, hop_length=cfg.hop_length,
                          win_length=cfg.win_length, power=cfg.power, normalized=False,
                          center=cfg.center)  # (..., n_freqs, frames)
    return torch.matmul(spec.transpose(-1, -2), filterbank).transpose(-1, -2)


def features_from(wave: torch.Tensor, cfg: FeatureConfig, *, window: torch.Tensor, filterbank: torch.Tensor,
                  dct: torch.Tensor | None = None) -> torch.Tensor:
    """What ``cfg`` asks for: ``log(mel + log_offset)``, or for MFCC the ``dct`` of the dB mel
    (top 80 dB per clip), ``(..., bands, frames)``. Pure and differentiable, as ``mel_spectrogram``."""
    mel = mel_spectrogram(wave, cfg, window=window, filterbank=filterbank)
    if cfg.kind == "mfcc":
        if dct is None:
            raise ConfigError(f"Preset '{cfg.name}' computes MFCCs, which need the DCT matrix (feature_tensors(cfg).dct).")
        # amplitude_to_DB clamps to top_db below the max over the last 3 dims: the extra
        # unit dim makes that max per clip, so a batch gives what each clip gives alone.
        multiplier = 10.0 if cfg.power == 2.0 else 20.0
        db = AF.amplitude_to_DB(mel.unsqueeze(-3), multiplier, 1e-10, 0.0, top_db=80.0).squeeze(-3)
        return torch.matmul(db.transpose(-1, -2), dct).transpose(-1, -2)
    return torch.log(mel + cfg.log_offset)


class Frontend(torch.nn.Module):
    """Thin module over ``features_from``: window, filterbank and DCT as (non-persistent) buffers,
    so ``.to(device)`` moves them with the model and the training loop."""

    def __init__(self, cfg: FeatureConfig):
        super().__init__()
        self.cfg = cfg
        window, filterbank, dct = feature_tensors(cfg)
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("filterbank", filterbank, persistent=False)
        self.register_buffer("dct", dct, persistent=False)  # None for log-mel

    def mel(self, wave: torch.Tensor) -> torch.Tensor:
        """Linear mel spectrogram ``(..., n_mels, frames)``."""
        return mel_spectrogram(wave, self.cfg, window=self.window, filterbank=self.filterbank)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return features_from(wave, self.cfg, window=self.window, filterbank=self.filterbank, dct=self.dct)

    def num_frames(self, n_samples: int) -> int:
        return num_frames(n_samples, self.cfg)


def num_frames(n_samples: int, cfg: FeatureConfig) -> int:
    """Frames a clip of ``n_samples`` yields under ``cfg``."""
    if cfg.center:
        return 1 + n_samples // cfg.hop_length
    return max(0, 1 + (n_samples - cfg.win_length) // cfg.hop_length)


def frame_times(n_frames: int, cfg: FeatureConfig) -> torch.Tensor:
    """Centre time in seconds of each frame."""
    offset = 0.0 if cfg.center else cfg.win_length / 2
    return (torch.arange(n_frames) * cfg.hop_length + offset) / cfg.sample_rate


def mel_band_hz(cfg: FeatureConfig) -> torch.Tensor:
    """Centre frequency in Hz of each mel band (HTK scale), for axis labels and profiles."""
    mels = torch.linspace(_hz_to_mel_htk(cfg.f_min), _hz_to_mel_htk(cfg.top_hz), cfg.n_mels + 2, dtype=torch.float64)
    return (700.0 * torch.expm1(mels[1:-1] / 1127.0)).to(torch.float32)


_FRONTENDS: dict[tuple[FeatureConfig, str], Frontend] = {}
_FRONTENDS_LOCK = threading.Lock()


def frontend(cfg: FeatureConfig, device: torch.device | str = "cpu") -> Frontend:
    """A shared ``Frontend`` for ``cfg`` on ``device`` (built once; safe to call from threads)."""
    key = (cfg, str(torch.device(device)))
    with _FRONTENDS_LOCK:
        if key not in _FRONTENDS:
            _FRONTENDS[key] = Frontend(cfg).to(device).eval()
        return _FRONTENDS[key]


_TENSORS: dict[tuple[FeatureConfig, str, torch.dtype], FeatureTensors] = {}
_TENSORS_LOCK = threading.Lock()


def _shared_tensors(cfg: FeatureConfig, wave: torch.Tensor) -> FeatureTensors:
    """``feature_tensors`` for the wave's device and dtype, built once (safe from threads; read only)."""
    key = (cfg, str(wave.device), wave.dtype)
    with _TENSORS_LOCK:
        if key not in _TENSORS:
            _TENSORS[key] = feature_tensors(cfg, wave.device, wave.dtype)
        return _TENSORS[key]


def _checked(wave: torch.Tensor) -> torch.Tensor:
    if not isinstance(wave, torch.Tensor) or not wave.is_floating_point():
        raise ConfigError("Features need a floating-point waveform tensor of shape (..., samples).")
    return wave


def log_mel(wave: torch.Tensor, cfg: FeatureConfig) -> torch.Tensor:
    """Log-mel spectrogram ``(..., n_mels, frames)`` of ``wave`` ``(..., samples)``.

    Differentiable: the gradient flows back to a ``wave`` that requires grad; otherwise no graph is built.
    """
    if cfg.kind != "log-mel":
        cfg = replace(cfg, kind="log-mel")
    return features_from(_checked(wave), cfg, **_shared_tensors(cfg, wave)._asdict())


def mfcc(wave: torch.Tensor, cfg: FeatureConfig) -> torch.Tensor:
    """MFCCs ``(..., n_mfcc, frames)``: DCT-II (ortho) of the dB mel power spectrogram. Differentiable, as ``log_mel``."""
    if cfg.kind != "mfcc":
        cfg = replace(cfg, kind="mfcc")
    return features_from(_checked(wave), cfg, **_shared_tensors(cfg, wave)._asdict())


def extract(wave: torch.Tensor, cfg: FeatureConfig) -> torch.Tensor:
    """The features ``cfg`` asks for (log-mel or MFCC)."""
    return mfcc(wave, cfg) if cfg.kind == "mfcc" else log_mel(wave, cfg)


def n_patches(n_frames: int, frames: int, hop: int) -> int:
    """How many patches ``patches`` cuts from ``n_frames`` frames: one, plus one per started hop after it."""
    return 1 + max(0, math.ceil((n_frames - frames) / hop))


def patches(spec: torch.Tensor, frames: int, hop: int) -> torch.Tensor:
    """Cut ``(..., bands, T)`` into ``(..., n_patches, bands, frames)`` every ``hop`` frames (S3).

    Shorter inputs are padded with the spectrogram's minimum (its silence floor) to one patch;
    a tail that does not fill a hop becomes a last, padded patch so no frame is dropped.
    """
    if frames <= 0 or hop <= 0:
        raise ConfigError("Patch length and hop must be positive numbers of frames.")
    length = spec.shape[-1]
    n = n_patches(length, frames, hop)
    needed = (n - 1) * hop + frames
    if needed > length:
        floor = spec.amin(dim=(-2, -1), keepdim=True).expand(*spec.shape[:-1], needed - length)
        spec = torch.cat([spec, floor], dim=-1)
    return spec.unfold(-1, frames, hop).movedim(-2, -3)
