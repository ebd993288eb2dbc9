"""core.audio: decoding every format, validation before decoding, resampling, segmentation."""

import hashlib
import io
import struct

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF

from core.audio import MIN_SECONDS, Clip, fix_length, load_audio, sliding_windows, to_wav_bytes, window_starts
from core.errors import AudioError

SR = 16_000


def encode(x, sr=SR, fmt="WAV", subtype="PCM_16"):
    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def sine(seconds=1.0, sr=SR, freq=440.0, channels=1):
    t = np.arange(int(seconds * sr)) / sr
    x = (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([x * (c + 1) / channels for c in range(channels)], axis=1) if channels > 1 else x


@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("WAV", "FLOAT"), ("FLAC", "PCM_24"), ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")])
def test_every_supported_format_decodes_to_mono_float32(fmt, subtype):
    data = encode(sine(1.0), fmt=fmt, subtype=subtype)
    clip = load_audio(data)
    assert isinstance(clip, Clip)
    assert clip.wave.dtype == torch.float32 and clip.wave.ndim == 1
    assert clip.sr == SR and clip.source_sr == SR and clip.source_channels == 1
    assert clip.duration == pytest.approx(1.0, abs=0.01)
    assert clip.sha256 == hashlib.sha256(data).hexdigest()
    assert not clip.is_silent


def test_path_bytes_and_file_like_give_the_same_clip(tmp_path):
    data = encode(sine(0.5))
    path = tmp_path / "a.wav"
    path.write_bytes(data)
    a, b = load_audio(path), load_audio(data)
    with open(path, "rb") as f:
        c = load_audio(f)
    assert a.sha256 == b.sha256 == c.sha256
    assert torch.equal(a.wave, b.wave) and torch.equal(a.wave, c.wave)
    assert a.name == "a.wav" and c.name == "a.wav"


def test_stereo_is_downmixed_by_averaging():
    stereo = sine(0.5, channels=2)
    clip = load_audio(encode(stereo, subtype="FLOAT"))
    assert clip.source_channels == 2
    np.testing.assert_allclose(clip.wave.numpy(), stereo.mean(axis=1), atol=1e-6)


def test_resampling_uses_torchaudio_and_keeps_the_tone():
    x = sine(1.0, sr=44_100, freq=1000.0)
    clip = load_audio(encode(x, sr=44_100, subtype="FLOAT"), target_sr=SR)
    assert clip.source_sr == 44_100 and clip.sr == SR and clip.wave.numel() == SR
    expected = AF.resample(torch.from_numpy(x), 44_100, SR)
    torch.testing.assert_close(clip.wave, expected)
    spectrum = torch.fft.rfft(clip.wave).abs()
    assert int(spectrum.argmax()) == pytest.approx(1000, abs=2)  # 1 Hz per bin for a 1 s clip


def test_silence_is_allowed_but_flagged():
    clip = load_audio(encode(np.zeros(SR, dtype=np.float32)))
    assert clip.is_silent and clip.duration == pytest.approx(1.0)


def test_empty_and_non_audio_inputs_are_refused_with_a_reason(tmp_path):
    with pytest.raises(AudioError, match="empty"):
        load_audio(b"")
    with pytest.raises(AudioError, match="could not be decoded.*WAV, FLAC, OGG and MP3"):
        load_audio(b"%PDF-1.7 this is not audio" * 20)
    with pytest.raises(AudioError, match="does not exist"):
        load_audio(tmp_path / "missing.wav")
    text = tmp_path / "notes.wav"
    text.write_text("hello")
    with pytest.raises(AudioError, match="'notes.wav' could not be decoded"):
        load_audio(text)


def test_header_only_files_are_refused():
    header_only = encode(sine(1.0))[:44]
    with pytest.raises(AudioError):
        load_audio(header_only)


@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("MP3", "MPEG_LAYER_III")])
def test_truncated_files_are_refused(fmt, subtype):
    data = encode(sine(2.0), fmt=fmt, subtype=subtype)
    with pytest.raises(AudioError, match="truncated|could not be decoded"):
        load_audio(data[: len(data) // 2])


def test_streaming_wav_with_unknown_length_still_loads():
    data = bytearray(encode(sine(0.5)))
    data[40:44] = struct.pack("<I", 0xFFFFFFFF)  # data chunk size "unknown", as streaming writers do
    assert load_audio(bytes(data)).duration == pytest.approx(0.5, abs=0.01)


def test_non_finite_samples_are_refused():
    x = sine(0.5)
    x[100] = np.nan
    with pytest.raises(AudioError, match="NaN or infinite"):
        load_audio(encode(x, subtype="FLOAT"))


@pytest.mark.parametrize("seconds", [0.01, 0.29])
def test_clips_too_short_to_analyse_are_refused_naming_the_minimum(seconds):
    assert MIN_SECONDS == 0.3
    with pytest.raises(AudioError, match=rf"'blip.wav' is {seconds * 1000:.1f} ms long; .*at least 300 ms \(0.3 s\)"
                       r".*longer clip") as e:
        load_audio(encode(sine(seconds)), name="blip.wav")
    assert "Traceback" not in str(e.value)


def test_the_shortest_real_word_and_the_minimum_itself_load():
    assert load_audio(encode(sine(0.48))).duration == pytest.approx(0.48, abs=1e-4)  # shortest word, Polish corpus
    assert load_audio(encode(sine(0.3))).duration == pytest.approx(0.3, abs=1e-4)
    x = sine(0.48, sr=44_100)  # the check is on the decoded duration, whatever the source rate
    assert load_audio(encode(x, sr=44_100)).duration == pytest.approx(0.48, abs=1e-3)
    with pytest.raises(AudioError, match="at least 300 ms"):
        load_audio(encode(sine(0.29, sr=44_100), sr=44_100))


def test_the_minimum_can_be_changed_by_the_caller():
    short = encode(sine(0.1))
    assert load_audio(short, min_seconds=0.05).duration == pytest.approx(0.1, abs=1e-4)
    with pytest.raises(AudioError, match=r"at least 500 ms \(0.5 s\)"):
        load_audio(encode(sine(0.48)), min_seconds=0.5)


def test_a_tiny_flac_declaring_hours_is_refused_before_decoding():
    data = encode(np.zeros((SR * 60 * 20,), dtype=np.int16), fmt="FLAC", subtype="PCM_16")
    assert len(data) < 200_000  # twenty minutes of silence compress to almost nothing
    with pytest.raises(AudioError, match="1200 s long; the limit is 600 s"):
        load_audio(data)


def test_extreme_sample_rates_and_channel_counts_are_refused():
    with pytest.raises(AudioError, match="sample rate of 1000 Hz"):
        load_audio(encode(np.zeros(1000, dtype=np.float32), sr=1000))
    many = np.zeros((100, 40), dtype=np.float32)
    with pytest.raises(AudioError, match="40 channels"):
        load_audio(encode(many, subtype="FLOAT"))


def test_byte_limit_is_enforced_for_every_source(tmp_path):
    data = encode(sine(1.0))
    path = tmp_path / "big.wav"
    path.write_bytes(data)
    for source in (data, path, io.BytesIO(data)):
        with pytest.raises(AudioError, match="over the"):
            load_audio(source, max_bytes=1000)


def test_wav_bytes_round_trip():
    wave = torch.from_numpy(sine(0.3))
    clip = load_audio(to_wav_bytes(wave, SR))
    torch.testing.assert_close(clip.wave, wave, atol=1 / 2**15, rtol=0)


def test_fix_length_pads_and_crops_about_the_centre():
    x = torch.arange(10, dtype=torch.float32)
    assert fix_length(x, 6).tolist() == [2, 3, 4, 5, 6, 7]
    assert fix_length(x, 13).tolist() == [0, *range(10), 0, 0]
    assert fix_length(x, 13)[1] == 0 and fix_length(x, 13)[2] == 1
    assert fix_length(torch.ones(2, 3, 10), 4).shape == (2, 3, 4)
    assert torch.equal(fix_length(x, 10), x)


def test_sliding_windows_overlap_cover_the_clip_and_batch():
    x = torch.arange(100, dtype=torch.float32)
    w = sliding_windows(x, 40, 20)
    assert w.shape == (4, 40)
    assert torch.equal(w[1], x[20:60])
    assert torch.equal(w[-1][:40], torch.cat([x[60:100]]))
    w = sliding_windows(x, 40, 25)  # 0,25,50,75: last window runs past the end and is zero-padded
    assert w.shape == (4, 40) and torch.equal(w[3][:25], x[75:]) and (w[3][25:] == 0).all()
    assert sliding_windows(x, 40, 25, pad_end=False).shape == (3, 40)
    assert sliding_windows(x[:10], 40, 20).shape == (1, 40)
    assert sliding_windows(torch.zeros(2, 100), 40, 20).shape == (2, 4, 40)
    np.testing.assert_allclose(window_starts(4, 8000, SR), [0, 0.5, 1.0, 1.5])
