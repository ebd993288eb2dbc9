"""Build ``assets/polish-cue``: a planted-cue set made of REAL recordings.

The demo corpus's planted-cue set (``core.data.synthetic``) is spoken by espeak-ng; this
one is cut from the shipped real corpus ``assets/polish`` ("Emotions in Polish speech
recordings", Mięsikowska & Świsulski 2020, doi:10.34808/h46c-hb44, CC BY). Each clip is
three to five single-word recordings of ONE speaker put end to end, a pause between every
two::

    L1 [+ pause + L2] + pause + E + pause + R1 [+ pause + R2]

where E is an angry or fearful word (the planted cue; the row's ``label`` is E's emotion)
and the L and R words are neutral words of the same speaker: ``n_left`` of them before E
and ``n_right`` after it, each drawn from {1, 2} per clip, all of words different from E's
word and from each other. ``cue_start``/``cue_end`` are E's span in seconds, exact sample
positions / 16000 (``cue_start_sample``/``cue_end_sample`` hold the samples), so
explanation methods can be scored on whether they point at it
(``core.explain.tables.localisation_results``).

What must not give the planted word away:

* **level** -- E is scaled so that its *active-speech RMS* equals the mean active-speech
  RMS of the neutral words of its clip. Active-speech RMS (``active_rms``) is the RMS over
  the 20 ms frames whose frame RMS is above the clip's median frame RMS (the louder half), so
  the amount of silence a recording happens to keep around its word does not change it.
  If the assembled clip would then peak above ``PEAK_MAX``, the WHOLE clip is scaled down
  (the ratio of the words' levels is kept); ``clip_gain_db`` records that;
* **pauses** -- 0.15-0.30 s each (between every two words), drawn at random, filled with
  white noise at the background level of the two recordings on either side (the mean of
  their ``core.audio.noise_floor`` after E's scaling), not digital silence;
* **speaker** -- all words of a clip come from one speaker, so the voice does not change at E;
* **position** -- E is not always the middle word: with 1 or 2 neutral words on each side
  its relative centre ``(cue_start + cue_end) / 2 / duration`` ranges over roughly 0.3-0.7
  (about a quarter of the clips each early and late, half central), so a map that merely
  favours the clip's centre does not land on E every time; E is never first or last, so a
  map that favours the clip's edges does not either.

Choice (all seeded): per speaker, ``per_emotion`` angry and ``per_emotion`` fearful words,
different words first (a random order of the six words; a word comes back, with another
repetition, only when ``per_emotion`` exceeds the number of words), a random repetition of
each; for each, ``n_left`` and ``n_right`` from {1, 2}, then ``n_left + n_right`` neutral
clips (any repetition) of as many other words, in a random order. Each speaker draws
from its own generator seeded with ``(seed, speaker number)``, so the same seed gives the
same files and the choices for one speaker do not depend on which others are built.

    python -m core.data.real_cue --out assets/polish-cue          (make real-cue)
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import soundfile as sf
import torch

from core.audio import NOISE_FLOOR_FRAME_SECONDS, noise_floor
from core.data.corpora import Row, load_manifest, write_manifest
from core.data.synthetic import make_noise
from core.errors import ConfigError, CorpusError

CORPUS_NAME = "polish-cue"
SAMPLE_RATE = 16_000
CUE_EMOTIONS = ("angry", "fearful")
SPEAKERS = tuple(f"polish-m{k}" for k in range(1, 6))
#: Pause between two words (seconds), drawn uniformly.
PAUSE_S = (0.15, 0.30)
#: How many neutral words go before and after the planted word (each drawn per clip).
NEIGHBOURS_PER_SIDE = (1, 2)
#: Separator of the list-valued manifest columns (``left_sources``, ``pauses_s``, ...).
LIST_SEP = ";"
#: Highest peak of a written clip; above it the whole clip is scaled down (16-bit FLAC clips at 1).
PEAK_MAX = 0.99

MANIFEST_COLUMNS = (
    "path", "label", "speaker", "corpus", "split", "cue_start", "cue_end",
    "cue_source", "left_sources", "right_sources", "n_left", "n_right",
    "word", "repetition", "left_words", "right_words",
    "cue_start_sample", "cue_end_sample", "left_end_sample", "right_start_sample",
    "word_start_samples", "word_end_samples", "pauses_s",
    "cue_gain_db", "clip_gain_db", "left_floors", "cue_floor", "right_floors",
    "duration", "seed",
)

PathLike = Union[str, os.PathLike]


def active_rms(wave: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    """RMS over the 20 ms frames whose RMS is above the clip's median frame RMS (its speech, not its silence).

    A clip shorter than two frames is measured whole.
    """
    frame = max(1, int(round(NOISE_FLOOR_FRAME_SECONDS * sr)))
    n = len(wave) // frame
    if n < 2:
        return float(np.sqrt(np.mean(np.square(wave)))) if len(wave) else 0.0
    frames = np.asarray(wave[: n * frame], dtype=np.float64).reshape(n, frame)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    loud = frames[rms > np.median(rms)]
    if not len(loud):  # every frame at the median (e.g. constant): the whole clip is "active"
        loud = frames
    return float(np.sqrt(np.mean(loud**2)))


@dataclass(frozen=True)
class _Clip:
    row: Row
    wave: np.ndarray  # float64, 16 kHz mono

    @property
    def word(self) -> str:
        return self.row.extra["word"]

    @property
    def repetition(self) -> str:
        return self.row.extra["repetition"]

    @property
    def name(self) -> str:
        return self.row.path.name


def _read(row: Row) -> _Clip:
    try:
        wave, sr = sf.read(row.path, dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise CorpusError(f"Cannot read {row.path} ({e}). Rebuild the corpus with `make real-corpus`.") from e
    if sr != SAMPLE_RATE or wave.shape[1] != 1:
        raise CorpusError(f"{row.path} is {sr} Hz with {wave.shape[1]} channel(s); expected {SAMPLE_RATE} Hz mono "
                          "(the corpus as `make real-corpus` writes it).")
    return _Clip(row, wave[:, 0])


def _floor(wave: np.ndarray) -> float:
    return noise_floor(torch.from_numpy(np.ascontiguousarray(wave)), SAMPLE_RATE)


def _choose_cues(clips: list[_Clip], per_emotion: int, rng: np.random.Generator, what: str) -> list[_Clip]:
    """``per_emotion`` clips: different words first (random order), a random unused repetition of each."""
    by_word: dict[str, list[_Clip]] = {}
    for c in sorted(clips, key=lambda c: c.name):
        by_word.setdefault(c.word, []).append(c)
    if per_emotion > len(clips):
        raise ConfigError(f"per_emotion={per_emotion}, but {what} has only {len(clips)} clip(s); choose at most "
                          f"{len(clips)}.")
    words = [sorted(by_word)[int(i)] for i in rng.permutation(len(by_word))]
    pools = {w: [by_word[w][int(i)] for i in rng.permutation(len(by_word[w]))] for w in words}
    chosen: list[_Clip] = []
    while len(chosen) < per_emotion:
        for w in words:
            if pools[w] and len(chosen) < per_emotion:
                chosen.append(pools[w].pop())
    return chosen


def _choose_neighbours(cue: _Clip, neutral: list[_Clip], rng: np.random.Generator,
                       what: str) -> tuple[list[_Clip], list[_Clip]]:
    """Neutral clips before and after the cue: ``n_left`` and ``n_right`` drawn from ``NEIGHBOURS_PER_SIDE``,
    all of pairwise different words other than the cue's (any repetition), in a random order."""
    by_word: dict[str, list[_Clip]] = {}
    for c in sorted(neutral, key=lambda c: c.name):
        if c.word != cue.word:
            by_word.setdefault(c.word, []).append(c)
    need = 2 * max(NEIGHBOURS_PER_SIDE)
    if len(by_word) < need:
        raise CorpusError(f"{what} has neutral recordings of {len(by_word)} word(s) other than {cue.word!r}; "
                          f"a planted-cue clip needs {need} (up to {max(NEIGHBOURS_PER_SIDE)} on each side). "
                          "Use the full corpus (`make real-corpus`).")
    n_left, n_right = (int(rng.choice(NEIGHBOURS_PER_SIDE)) for _ in range(2))
    words = sorted(by_word)
    picked = [words[int(i)] for i in rng.choice(len(words), size=n_left + n_right, replace=False)]
    clips = [by_word[w][int(rng.integers(len(by_word[w])))] for w in picked]
    return clips[:n_left], clips[n_left:]


def _assemble(left: list[_Clip], cue: _Clip, right: list[_Clip], rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """``left words + gain * cue + right words``, a noise pause between every two, and what was done
    (sample positions, gains, floors)."""
    neutral = left + right
    target = float(np.mean([active_rms(c.wave) for c in neutral]))
    level = active_rms(cue.wave)
    if level <= 0:
        raise CorpusError(f"{cue.row.path} is digital silence; it cannot be level-matched.")
    gain = target / level
    e = gain * cue.wave
    words = [c.wave for c in left] + [e] + [c.wave for c in right]
    floors = [_floor(w) for w in words]
    pauses = [int(round(rng.uniform(*PAUSE_S) * SAMPLE_RATE)) for _ in range(len(words) - 1)]
    fill = [make_noise("white", n, rng) * 0.5 * (floors[i] + floors[i + 1]) for i, n in enumerate(pauses)]
    parts, starts, ends, pos = [], [], [], 0
    for i, w in enumerate(words):
        if i:
            parts.append(fill[i - 1])
            pos += len(fill[i - 1])
        starts.append(pos)
        parts.append(w)
        pos += len(w)
        ends.append(pos)
    y = np.concatenate(parts)
    peak = float(np.abs(y).max())
    clip_gain = min(1.0, PEAK_MAX / peak) if peak > 0 else 1.0
    y = y * clip_gain
    k = len(left)  # E's index among the words
    join = LIST_SEP.join
    info = {
        "cue_start_sample": starts[k], "cue_end_sample": ends[k], "left_end_sample": ends[k - 1],
        "right_start_sample": starts[k + 1],
        "word_start_samples": join(str(v) for v in starts), "word_end_samples": join(str(v) for v in ends),
        "pauses_s": join(repr(n / SAMPLE_RATE) for n in pauses),
        "cue_gain_db": round(20 * np.log10(gain), 4), "clip_gain_db": round(20 * np.log10(clip_gain), 4),
        "left_floors": join(repr(round(f * clip_gain, 7)) for f in floors[:k]),
        "cue_floor": round(floors[k] * clip_gain, 7),
        "right_floors": join(repr(round(f * clip_gain, 7)) for f in floors[k + 1:]),
    }
    return y, info


def word_spans(row: Row) -> tuple[list[tuple[int, int]], int] | None:
    """Every word's ``(start, end)`` sample span in a planted-cue clip and the planted word's index among them;
    None when ``row`` does not record the spans (only this set's rows have ``word_start_samples``,
    ``word_end_samples`` and ``cue_start_sample``)."""
    starts, ends, cue = (row.extra.get(k) for k in ("word_start_samples", "word_end_samples", "cue_start_sample"))
    if any(v is None or str(v) == "" for v in (starts, ends, cue)):
        return None
    spans = list(zip(map(int, str(starts).split(LIST_SEP)), map(int, str(ends).split(LIST_SEP))))
    return spans, [s for s, _ in spans].index(int(cue))


def _speaker_number(speaker: str) -> int:
    prefix = "polish-m"
    if not speaker.startswith(prefix) or not speaker[len(prefix):].isdigit():
        raise ConfigError(f"unknown speaker {speaker!r}: the Polish corpus's speakers are polish-m1 .. polish-m5.")
    return int(speaker[len(prefix):])


def build(corpus_root: PathLike = "assets/polish", out_dir: PathLike = "assets/polish-cue",
          speakers: Sequence[str] = SPEAKERS, per_emotion: int = 4, seed: int = 0) -> Path:
    """Write the planted-cue clips (16-bit FLAC), ``manifest.csv`` and ``README.md`` to ``out_dir``.

    One clip per planted word: ``per_emotion`` angry and ``per_emotion`` fearful words per
    speaker (40 clips for the defaults). Returns the manifest's path. The manifest is
    written last, through a temporary file; FLACs of an earlier build (``m*_cue_*.flac``)
    are removed first, so no stale clip is left behind.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(per_emotion, bool) or not isinstance(per_emotion, (int, np.integer)) or per_emotion < 1:
        raise ConfigError(f"per_emotion must be a positive integer, got {per_emotion!r}")
    if not speakers:
        raise ConfigError("speakers is empty; name at least one (polish-m1 .. polish-m5).")
    corpus = load_manifest(corpus_root, "polish")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} exists and is not a folder; pick another --out")
    out.mkdir(parents=True, exist_ok=True)
    if out.resolve() == corpus.root.resolve():
        raise ConfigError(f"--out {out} is the source corpus folder; write the cue set to a folder of its own.")
    manifest = out / "manifest.csv"
    if manifest.exists():
        manifest.unlink()
    for old in out.glob("m*_cue_*.flac"):
        old.unlink()

    rows: list[dict] = []
    for speaker in speakers:
        number = _speaker_number(speaker)
        mine = corpus.filter(speaker=speaker)
        if not len(mine):
            raise CorpusError(f"{corpus.root} has no clips of {speaker}; it has {', '.join(corpus.speakers())}.")
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), number]))
        clips = [_read(r) for r in mine.rows]
        neutral = [c for c in clips if c.row.label == "neutral"]
        for emotion in CUE_EMOTIONS:
            pool = [c for c in clips if c.row.label == emotion]
            for cue in _choose_cues(pool, int(per_emotion), rng, f"{speaker} ({emotion})"):
                left, right = _choose_neighbours(cue, neutral, rng, speaker)
                y, info = _assemble(left, cue, right, rng)
                name = f"m{number}_cue_{emotion}_{cue.word}_{cue.repetition}.flac"
                tmp = out / (name + ".part")
                sf.write(tmp, y.astype(np.float32), SAMPLE_RATE, format="FLAC", subtype="PCM_16")
                os.replace(tmp, out / name)
                rows.append({
                    "path": name, "label": emotion, "speaker": speaker, "corpus": CORPUS_NAME, "split": "cue",
                    # exact: a sample index / 16000 has at most 7 decimals, repr keeps them all
                    "cue_start": repr(info["cue_start_sample"] / SAMPLE_RATE),
                    "cue_end": repr(info["cue_end_sample"] / SAMPLE_RATE),
                    "cue_source": cue.name, "left_sources": LIST_SEP.join(c.name for c in left),
                    "right_sources": LIST_SEP.join(c.name for c in right), "n_left": len(left),
                    "n_right": len(right), "word": cue.word, "repetition": cue.repetition,
                    "left_words": LIST_SEP.join(c.word for c in left),
                    "right_words": LIST_SEP.join(c.word for c in right), **info,
                    "duration": repr(len(y) / SAMPLE_RATE), "seed": int(seed),
                })
    write_readme(out, rows, corpus_root=corpus_root, per_emotion=int(per_emotion), seed=int(seed),
                 speakers=tuple(speakers))
    write_manifest(manifest, MANIFEST_COLUMNS, rows)
    return manifest


def relative_centre(row: dict) -> float:
    """Where the planted word's centre lies in its clip: ``(cue_start + cue_end) / 2 / duration`` (0 start, 1 end)."""
    return (float(row["cue_start"]) + float(row["cue_end"])) / 2 / float(row["duration"])


def write_readme(out_dir: PathLike, rows: list[dict], *, corpus_root: PathLike, per_emotion: int, seed: int,
                 speakers: tuple[str, ...]) -> Path:
    """``out_dir/README.md``: what the set is, where it comes from, its licence and how it was built."""
    seconds = sum(float(r["duration"]) for r in rows)
    counts = {e: sum(r["label"] == e for r in rows) for e in CUE_EMOTIONS}
    centres = np.array([relative_centre(r) for r in rows]) if rows else np.zeros(1)
    layouts = {(a, b): sum(int(r["n_left"]) == a and int(r["n_right"]) == b for r in rows)
               for a in NEIGHBOURS_PER_SIDE for b in NEIGHBOURS_PER_SIDE}
    early, late = int((centres < 0.4).sum()), int((centres > 0.6).sum())
    layout_text = ", ".join(f"{a}+E+{b}: {n}" for (a, b), n in layouts.items())
    default_cmd = (Path(out_dir).as_posix() == "assets/polish-cue" and Path(corpus_root).as_posix() == "assets/polish"
                   and per_emotion == 4 and seed == 0 and speakers == SPEAKERS)
    cmd = "python -m core.data.real_cue --out assets/polish-cue" if default_cmd else (
        f"python -m core.data.real_cue --corpus {Path(corpus_root).as_posix()} --out {Path(out_dir).as_posix()} "
        f"--per-emotion {per_emotion} --seed {seed} --speakers {' '.join(speakers)}")
    text = f"""# Planted-cue set from real Polish emotional speech (polish-cue)

{len(rows)} clips ({counts['angry']} angry, {counts['fearful']} fearful), {seconds:.1f} s in total, 16 kHz mono
16-bit FLAC, for checking where explanations of a speech-emotion model point. Each clip is
three to five real single-word recordings of one speaker put end to end, a pause between every
two: one or two neutral words, an **angry or fearful word (the planted cue)**, one or two
neutral words. `manifest.csv` gives the cue's span in seconds (`cue_start`, `cue_end`; exact
sample positions / 16000 in `cue_start_sample`, `cue_end_sample`) and the row's `label` is the
planted word's emotion (split `cue`, corpus `polish-cue`). `cue_source` names the planted
word's source recording in `assets/polish`; `left_sources` and `right_sources` the neutral ones
before and after it, in order (joined with `{LIST_SEP}`; `n_left`, `n_right` count them).
`word_start_samples` / `word_end_samples` give every word's span, `pauses_s` every pause.

## Source and licence

Built from the corpus "Emotions in Polish speech recordings" (shipped in `assets/polish`):

Mięsikowska, M., & Świsulski, D. (2020). Emotions in Polish speech recordings [Dataset].
Gdańsk University of Technology. https://doi.org/10.34808/h46c-hb44

Licence: Creative Commons Attribution (CC BY), https://creativecommons.org/licenses/by/4.0/.
These clips are an adaptation (cut together and level-scaled) of that corpus's recordings;
credit the authors with the citation above when you use or redistribute them.

## How it was built

- Per speaker ({', '.join(speakers)}): {per_emotion} angry and {per_emotion} fearful words, different words
  first, a random repetition of each; for each, one or two neutral recordings before it and one
  or two after it (each count drawn per clip), all of the same speaker and of words different
  from the planted word's and from each other.
- Level matching: the planted word is scaled so that its active-speech RMS (RMS over the
  20 ms frames above the clip's median frame RMS) equals the mean active-speech RMS of the
  clip's neutral words (`cue_gain_db`), so loudness alone does not give it away. Where the
  clip would then peak above {PEAK_MAX}, the whole clip is scaled down (`clip_gain_db`).
- Pauses: {PAUSE_S[0]:.2f}-{PAUSE_S[1]:.2f} s each, drawn at random, filled with white noise at the background
  level (`core.audio.noise_floor`) of the recordings on both sides, not digital silence.
- Position: the planted word's place varies, because with E always the middle word a map
  that merely favours the clip's centre would score above chance on this set for that reason
  alone. Neutral words before + E + after, per clip: {layout_text}.
  E's relative centre ((cue_start + cue_end) / 2 / duration) ranges {centres.min():.2f}-{centres.max():.2f},
  median {np.median(centres):.2f}; {early} clips have it below 0.4, {late} above 0.6. In the
  1+E+1 and 2+E+2 clips E is still near the centre, so a centre bias is weakened, not
  removed: compare scores per layout (`n_left`, `n_right`) to see it. E is never the first or
  last word, so neutral speech always surrounds it.
- Everything is drawn from generators seeded with (seed, speaker number), seed {seed}: the same
  command gives the same files.

Rebuild with `make real-cue` (`{cmd}`); see `core/data/real_cue.py`.
"""
    path = Path(out_dir) / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.data.real_cue", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="assets/polish", help="the Polish corpus folder (make real-corpus)")
    parser.add_argument("--out", default="assets/polish-cue", help="folder to write the cue set to")
    parser.add_argument("--per-emotion", type=int, default=4, help="angry and fearful cue words per speaker")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speakers", nargs="+", default=list(SPEAKERS), metavar="SPEAKER")
    args = parser.parse_args(argv)
    try:
        manifest = build(args.corpus, args.out, speakers=tuple(args.speakers), per_emotion=args.per_emotion,
                         seed=args.seed)
    except (CorpusError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    with manifest.open(newline="", encoding="utf-8") as f:
        n = sum(1 for _ in csv.DictReader(f))
    print(f"wrote {n} planted-cue clips and {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
