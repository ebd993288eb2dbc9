"""Load, validate, resample and segment waveforms.

Decoding goes through soundfile (libsndfile: WAV, FLAC, OGG/Vorbis/Opus, MP3); resampling
through torchaudio. A file's header is checked *before* its samples are decoded, so a tiny
FLAC that declares hours of audio is refused without allocating them.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from core.errors import AudioError

AudioSource = Union[str, Path, bytes, bytearray, BinaryIO]

MIN_SAMPLE_RATE = 4_000
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 32
MAX_BYTES = 200 * 1024 * 1024
#: Peak below this (about -80 dBFS) counts as silence: allowed, but flagged.
SILENCE_PEAK = 1e-4
#: A file that yields fewer frames than its header declares by more than this share is truncated.
TRUNCATION_TOLERANCE = 0.01
#: Shortest clip (seconds) a log-mel model can see with context: a few 25-50 ms analysis windows on each
#: side of a syllable, and well above the STFT's reflect padding (n_fft / 2 = 32 ms). The shortest word of
#: the shipped real Polish corpus, 0.48 s, must still load.
MIN_SECONDS = 0.3


@dataclass(frozen=True, eq=False)
class Clip:
    """A decoded, validated mono clip.

    ``sha256`` hashes the input *bytes*, so it identifies the upload for caching regardless
    of resampling. ``is_silent`` flags clips with no audible content; they are kept so the
    UI can say so instead of failing.
    """

    wave: torch.Tensor  # float32, shape (samples,)
    sr: int
    source_sr: int
    source_channels: int
    sha256: str
    name: str = ""
    is_silent: bool = False

    @property
    def duration(self) -> float:
        return self.wave.shape[-1] / self.sr


def load_audio(
    source: AudioSource,
    target_sr: int = 16_000,
    max_seconds: float = 600.0,
    *,
    name: str | None = None,
    max_bytes: int = MAX_BYTES,
    min_seconds: float = MIN_SECONDS,
) -> Clip:
    """Decode ``source`` (path, bytes or binary file-like) into a mono ``Clip`` at ``target_sr``.

    Raises ``AudioError`` for anything a user can fix: missing, empty, non-audio, truncated,
    too long or shorter than ``min_seconds``, extreme sample rate or channel count, NaN/inf samples.
    """
    data, label = _read_bytes(source, max_bytes)
    name = name if name is not None else label
    if not data:
        raise AudioError(f"'{name}' is empty (0 bytes). Choose a WAV, FLAC, OGG or MP3 file with sound in it.")
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            frames, sr, channels = f.frames, f.samplerate, f.channels
            _check_header(name, frames, sr, channels, max_seconds)
            declared = max(frames, _declared_wav_frames(f))
            samples = f.read(dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as e:
        reason = getattr(e, "error_string", None) or str(e)
        raise AudioError(
            f"'{name}' could not be decoded as audio ({reason.strip()}). Supported formats are WAV, FLAC, "
            "OGG and MP3; check that the file is not corrupt or of another type."
        ) from None
    _check_samples(name, samples, declared)
    _check_duration(name, samples.shape[0], sr, min_seconds)
    wave = torch.from_numpy(samples.mean(axis=1) if channels > 1 else samples[:, 0]).contiguous()
    if sr != target_sr:
        wave = AF.resample(wave, sr, target_sr)
    peak = float(wave.abs().max()) if wave.numel() else 0.0
    return Clip(
        wave=wave.to(torch.float32),
        sr=target_sr,
        source_sr=sr,
        source_channels=channels,
        sha256=hashlib.sha256(data).hexdigest(),
        name=name,
        is_silent=peak < SILENCE_PEAK,
    )


def _read_bytes(source: AudioSource, max_bytes: int) -> tuple[bytes, str]:
    """Return the raw bytes of ``source`` and a name to show in messages."""
    if isinstance(source, (bytes, bytearray)):
        data, label = bytes(source), "uploaded clip"
    elif isinstance(source, (str, Path)):
        path = Path(source)
        label = path.name
        if not path.is_file():
            raise AudioError(f"'{path}' does not exist or is not a file. Check the path.")
        if path.stat().st_size > max_bytes:
            raise AudioError(_too_big(label, path.stat().st_size, max_bytes))
        data = path.read_bytes()
    elif hasattr(source, "read"):
        label = Path(getattr(source, "name", "") or "uploaded clip").name
        data = source.read(max_bytes + 1)
        if not isinstance(data, (bytes, bytearray)):
            raise AudioError(f"'{label}' was opened in text mode; open audio files in binary mode ('rb').")
    else:
        raise AudioError(f"Cannot read audio from a {type(source).__name__}; give a path, bytes or a binary file.")
    if len(data) > max_bytes:
        raise AudioError(_too_big(label, len(data), max_bytes))
    return bytes(data), label


def _too_big(name: str, size: int, limit: int) -> str:
    return f"'{name}' is {size / 2**20:.1f} MB, over the {limit / 2**20:.0f} MB limit. Trim or compress the clip."


def _check_header(name: str, frames: int, sr: int, channels: int, max_seconds: float) -> None:
    """Refuse extreme declared sizes before any sample is decoded."""
    if not MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE:
        raise AudioError(
            f"'{name}' declares a sample rate of {sr} Hz; supported rates are "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz. Re-export it at e.g. 16 or 44.1 kHz."
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioError(f"'{name}' declares {channels} channels; at most {MAX_CHANNELS} are supported.")
    if frames <= 0:
        raise AudioError(f"'{name}' holds no audio frames. Choose a clip with sound in it.")
    seconds = frames / sr
    if seconds > max_seconds:
        raise AudioError(
            f"'{name}' is {seconds:.0f} s long; the limit is {max_seconds:.0f} s. Cut it into shorter clips."
        )


_WAV_DATA_SIZE = re.compile(r"^data : (\d+) \(should be (\d+)\)", re.MULTILINE)
#: Streaming writers put these in a WAV's data size when the length is unknown.
_UNKNOWN_WAV_SIZES = {0, 0xFFFFFFFF, 0x7FFFFFFF}


def _declared_wav_frames(f: sf.SoundFile) -> int:
    """Frames a WAV header declares when libsndfile found fewer bytes (it clamps ``frames``).

    libsndfile reports ``data : <declared> (should be <found>)`` in its log; returns 0 when
    the file is not such a WAV or declares an unknown length.
    """
    match = _WAV_DATA_SIZE.search(f.extra_info)
    if not match or int(match.group(1)) in _UNKNOWN_WAV_SIZES:
        return 0
    bytes_per_frame = max(1, f.channels * {"PCM_U8": 1, "PCM_S8": 1, "PCM_16": 2, "PCM_24": 3}.get(f.subtype, 4))
    return int(match.group(1)) // bytes_per_frame


def _check_duration(name: str, frames: int, sr: int, min_seconds: float) -> None:
    """Refuse a decoded clip too short for a model to hear anything in it (half a sample of rounding allowed)."""
    seconds = frames / sr
    if frames < min_seconds * sr - 0.5:
        raise AudioError(
            f"'{name}' is {seconds * 1000:.1f} ms long; clips must be at least {min_seconds * 1000:.0f} ms "
            f"({min_seconds:g} s) for the model to hear anything. Choose or record a longer clip (a word or more)."
        )


def _check_samples(name: str, samples: np.ndarray, declared_frames: int) -> None:
    if samples.shape[0] == 0:
        raise AudioError(f"'{name}' decoded to no samples; the file is probably truncated or corrupt.")
    if samples.shape[0] < declared_frames * (1 - TRUNCATION_TOLERANCE):
        raise AudioError(
            f"'{name}' is truncated: its header declares {declared_frames} frames but only "
            f"{samples.shape[0]} could be decoded. Re-export or re-download the file."
        )
    if not np.isfinite(samples).all():
        raise AudioError(f"'{name}' contains NaN or infinite samples. Re-export it as 16-bit PCM.")


def at_rate(clip: Clip, sr: int) -> Clip:
    """``clip`` resampled to ``sr`` (torchaudio; itself when it is already there): a model hears its own rate."""
    if clip.sr == sr:
        return clip
    return replace(clip, wave=AF.resample(clip.wave, clip.sr, sr).to(torch.float32), sr=sr)


def to_wav_bytes(wave: torch.Tensor | np.ndarray, sr: int) -> bytes:
    """Encode a mono waveform as 16-bit PCM WAV bytes (for players and downloads)."""
    samples = wave.detach().cpu().numpy() if isinstance(wave, torch.Tensor) else np.asarray(wave)
    buf = io.BytesIO()
    sf.write(buf, np.clip(samples, -1.0, 1.0), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def fix_length(wave: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Pad with zeros or crop along the last axis to ``n_samples``, symmetrically about the centre (S0)."""
    if n_samples <= 0:
        raise ValueError("n_samples must be positive")
    excess = wave.shape[-1] - n_samples
    if excess > 0:
        start = excess // 2
        return wave[..., start : start + n_samples]
    if excess < 0:
        missing = -excess
        return torch.nn.functional.pad(wave, (missing // 2, missing - missing // 2))
    return wave


#: How a clip shorter than the model's length is filled. "zeros": digital silence about the centre (S0; the
#: demo models). "noise-floor": white noise at the clip's own background level, so the padding looks like the
#: pauses of the recording itself and no model can learn "exact zeros mean short clip" (real speech showed
#: zero-padded models classifying by the padding); training also places each clip at a random offset.
PADDINGS = ("zeros", "noise-floor")
#: Frame length and quantile of the frame RMS that estimate a clip's background level.
NOISE_FLOOR_FRAME_SECONDS = 0.02
NOISE_FLOOR_QUANTILE = 0.1


def noise_floor(wave: torch.Tensor, sr: int) -> float:
    """RMS level of the clip's quietest frames (the 10th percentile of 20 ms frame RMS): its background noise."""
    return float(noise_floors(wave.reshape(1, -1), sr)[0]) if wave.numel() else 0.0


def noise_floors(waves: torch.Tensor, sr: int) -> torch.Tensor:
    """``noise_floor`` of every row of ``(B, samples)``, as ``(B,)`` in the waves' dtype."""
    frame = max(1, int(round(NOISE_FLOOR_FRAME_SECONDS * sr)))
    usable = waves.shape[-1] // frame * frame
    if usable == 0:
        return waves.pow(2).mean(dim=-1).sqrt()
    rms = waves[:, :usable].reshape(waves.shape[0], -1, frame).pow(2).mean(dim=-1).sqrt()
    return torch.quantile(rms.float(), NOISE_FLOOR_QUANTILE, dim=1).to(waves.dtype)


def fit_length(wave: torch.Tensor, n_samples: int, padding: str = "zeros", *, sr: int = 16_000,
               seed: int = 0) -> tuple[torch.Tensor, int]:
    """Crop or pad a mono ``wave`` about its centre to ``n_samples``; returns it and where the clip starts in it.

    ``padding`` is one of ``PADDINGS``; "noise-floor" noise comes from a generator seeded with ``seed``, so the
    same clip always gets the same input (caches and tests rely on that).
    """
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, not {padding!r}")
    fixed = fix_length(wave, n_samples)
    missing = n_samples - wave.shape[-1]
    if missing <= 0 or padding == "zeros":
        return fixed, max(0, missing // 2)
    start = missing // 2
    fixed = background_noise(fixed, noise_floor(wave, sr), torch.Generator().manual_seed(seed))
    fixed[start:start + wave.shape[-1]] = wave
    return fixed, start


def background_noise(like: torch.Tensor, floor: float, generator: torch.Generator) -> torch.Tensor:
    """White noise shaped, typed and placed like ``like`` at RMS ``floor``, drawn on the CPU from ``generator``
    (so the same seed gives the same noise on every device)."""
    return torch.randn(like.shape, generator=generator).to(like.device, like.dtype) * floor


def shift_within(waves: torch.Tensor, starts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Move each row's clip (``waves[i, starts[i]:starts[i] + lengths[i]]``) to a random place inside its row.

    A circular shift that keeps the clip whole: what wraps round is the row's padding, so with noise-floor
    padding the result is again a clip in its own background. Draws from the global RNG (the training loop
    re-seeds it every epoch). Rows the clip fills are returned unchanged.
    """
    n = waves.shape[-1]
    room = (n - lengths).clamp_min(0)
    new_starts = (torch.rand(len(waves), device=waves.device) * (room + 1).to(waves.device)).long().clamp_max(room.to(waves.device))
    shift = new_starts - starts.to(waves.device)
    index = (torch.arange(n, device=waves.device)[None, :] - shift[:, None]) % n
    return waves.gather(1, index)


def sliding_windows(wave: torch.Tensor, size: int, hop: int, *, pad_end: bool = True) -> torch.Tensor:
    """Cut overlapping windows of ``size`` samples every ``hop`` samples along the last axis (S3).

    Returns shape ``(..., n_windows, size)``. A clip shorter than one window is zero-padded
    to one; with ``pad_end`` the tail that does not fill a whole hop is zero-padded into a
    last window instead of being dropped, so every sample lies in some window.
    """
    if size <= 0 or hop <= 0:
        raise ValueError("size and hop must be positive")
    length = wave.shape[-1]
    n = 1 + max(0, math.ceil((length - size) / hop) if pad_end else (length - size) // hop)
    needed = (n - 1) * hop + size
    if needed > length:
        wave = torch.nn.functional.pad(wave, (0, needed - length))
    return wave.unfold(-1, size, hop)


def window_starts(n_windows: int, hop: int, sr: int) -> np.ndarray:
    """Start time in seconds of each window made by ``sliding_windows``."""
    return np.arange(n_windows) * hop / sr
