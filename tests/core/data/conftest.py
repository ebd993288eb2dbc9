"""Fixtures for corpus tests: miniature corpus trees made of tiny real WAV files."""

import io

import numpy as np
import pytest
import soundfile as sf


@pytest.fixture(scope="session")
def wav_bytes() -> bytes:
    """0.1 s of white noise at 16 kHz, 16-bit PCM WAV."""
    buf = io.BytesIO()
    noise = 0.1 * np.random.default_rng(0).standard_normal(1600)
    sf.write(buf, noise.astype(np.float32), 16_000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture
def make_tree(tmp_path, wav_bytes):
    """``make_tree(["Actor_01/03-01-01-01-01-01-01.wav", ...], name="corpus")`` writes the
    files (tiny WAVs; other extensions get a line of text) and returns the root."""

    def make(relpaths, name="corpus"):
        root = tmp_path / name
        root.mkdir(parents=True, exist_ok=True)
        for rel in relpaths:
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            is_audio = path.suffix.lower() in {".wav", ".flac", ".ogg", ".mp3"}
            path.write_bytes(wav_bytes if is_audio else b"not audio\n")
        return root

    return make
