"""core.data.polish: the zip -> FLAC conversion and the hash checks, on a zip made here
(nothing is downloaded)."""

import hashlib
import io
import subprocess
import zipfile

import numpy as np
import pytest
import soundfile as sf

from core.data import polish
from core.data.corpora import load_manifest
from core.errors import CorpusError

README = "# Emotions in polish speech recordings\nLicense: Creative Commons CC BY Attribution\n"


def float_wav(samples, sr=16_000, channels=1):
    buf = io.BytesIO()
    data = np.asarray(samples, dtype=np.float32)
    sf.write(buf, np.tile(data[:, None], (1, channels)) if channels > 1 else data, sr, format="WAV",
             subtype="FLOAT")
    return buf.getvalue()


def make_zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def waves():
    rng = np.random.default_rng(0)
    quiet = (0.3 * rng.standard_normal(1600)).clip(-0.9, 0.9)
    loud = np.concatenate([quiet[:800], [1.5, -2.0, 1.0, -1.0]])  # two samples beyond full scale
    return {"m1.a_nie_2": quiet, "m2.s_tak_1": loud, "m3.n_stop_5": quiet[:400]}


@pytest.fixture
def corpus_zip(tmp_path, waves):
    members = {"POLISH/": b"", "POLISH/readme.md": README.encode()}
    members |= {f"POLISH/{stem}.wav": float_wav(w) for stem, w in waves.items()}
    return make_zip(tmp_path / "polish_speech_emotions.zip", members)


def test_convert_writes_16_bit_flac_with_the_same_stems(corpus_zip, waves, tmp_path):
    zip_path, sha = corpus_zip
    out = tmp_path / "out"
    done = polish.convert(zip_path, out, expected_sha256=sha)
    assert (done.clips, done.clipped_samples, done.zip_sha256) == (3, 2, sha)
    assert done.seconds == pytest.approx((1600 + 804 + 400) / 16_000)
    assert sorted(p.name for p in out.iterdir()) == [
        "LICENCE-readme.md", "m1.a_nie_2.flac", "m2.s_tak_1.flac", "m3.n_stop_5.flac"]
    assert (out / "LICENCE-readme.md").read_text() == README
    for stem, wave in waves.items():
        info = sf.info(out / f"{stem}.flac")
        assert (info.format, info.subtype, info.samplerate, info.channels) == ("FLAC", "PCM_16", 16_000, 1)
        got, _ = sf.read(out / f"{stem}.flac", dtype="float64")
        # only quantisation, and clipping to [-1, 1] (no wrap-around of the loud samples)
        np.testing.assert_allclose(got, np.clip(wave, -1, 1), atol=1 / 32768 + 1e-9)
    loud, _ = sf.read(out / "m2.s_tak_1.flac", dtype="int16")
    assert list(loud[-4:]) == [32767, -32768, 32767, -32768]
    # the folder reads back as the corpus
    m = load_manifest(out)
    assert m.corpus == "polish" and m.counts() == {"angry": 1, "fearful": 1, "neutral": 1}


def test_readme_states_licence_citation_and_provenance(corpus_zip, tmp_path):
    zip_path, sha = corpus_zip
    done = polish.convert(zip_path, tmp_path, expected_sha256=sha)
    text = polish.write_readme(tmp_path, done).read_text()
    for needle in ("Mięsikowska", "Świsulski", "https://doi.org/10.34808/h46c-hb44",
                   "https://creativecommons.org/licenses/by/4.0/", "CC BY", "nkululeko 1.14.1",
                   polish.SDIST_SHA256, sha, "16-bit PCM FLAC", "clipped to\n[-1, 1]", "3 clips",
                   "m1.a_nie_2.flac"):
        assert needle in text, needle


def test_convert_refuses_a_zip_with_another_hash(corpus_zip, tmp_path):
    zip_path, sha = corpus_zip
    with pytest.raises(CorpusError) as err:
        polish.convert(zip_path, tmp_path / "out", expected_sha256="0" * 64)
    assert f"expected {'0' * 64}" in str(err.value) and f"SHA-256 {sha}" in str(err.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "members, message",
    [
        ({"POLISH/readme.md": README, "POLISH/m1.a_nie_1.wav": float_wav(np.zeros(160), sr=44_100)}, "44100 Hz"),
        ({"POLISH/readme.md": README, "POLISH/m1.a_nie_1.wav": float_wav(np.zeros(160), channels=2)}, "2 channel"),
        ({"POLISH/readme.md": README, "POLISH/take1.wav": float_wav(np.zeros(160))}, "not named like"),
        ({"POLISH/m1.a_nie_1.wav": float_wav(np.zeros(160))}, "readme.md"),
        ({"other/m1.a_nie_1.wav": float_wav(np.zeros(160))}, "no POLISH/"),
    ],
)
def test_convert_refuses_what_is_not_the_corpus(tmp_path, members, message):
    zip_path, sha = make_zip(tmp_path / "x.zip", members)
    with pytest.raises(CorpusError, match=message):
        polish.convert(zip_path, tmp_path / "out", expected_sha256=sha)


def test_download_is_skipped_when_the_sdist_is_there(tmp_path, monkeypatch):
    sdist = tmp_path / polish.SDIST_NAME
    sdist.write_bytes(b"an sdist")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("pip must not run"))
    assert polish.download_sdist(tmp_path, hashlib.sha256(b"an sdist").hexdigest()) == sdist


def test_download_runs_pip_and_checks_the_hash(tmp_path, monkeypatch):
    calls = []

    def fake_pip(cmd, **kwargs):
        calls.append(cmd)
        (tmp_path / polish.SDIST_NAME).write_bytes(b"something else")
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(subprocess, "run", fake_pip)
    with pytest.raises(CorpusError, match=f"expected {polish.SDIST_SHA256}"):
        polish.download_sdist(tmp_path)
    assert calls[0][1:] == ["-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "nkululeko==1.14.1",
                            "-d", str(tmp_path)]


def test_extract_zip_takes_the_member_out_of_the_sdist(tmp_path, corpus_zip):
    import tarfile

    zip_path, sha = corpus_zip
    sdist = tmp_path / "fake.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        tar.add(zip_path, arcname=polish.ZIP_MEMBER)
    work = tmp_path / "work"
    work.mkdir()
    got = polish.extract_zip(sdist, work, expected_sha256=sha)
    assert got == work / "polish_speech_emotions.zip" and got.read_bytes() == zip_path.read_bytes()
    with pytest.raises(CorpusError, match="expected"):
        (work / "polish_speech_emotions.zip").unlink()
        polish.extract_zip(sdist, work, expected_sha256="f" * 64)
