"""The synthetic demo corpus ("serwb-demo") and its planted-cue set.

No real emotional speech can be downloaded where serwb runs, so the project ships a small
corpus spoken by espeak-ng. Emotions are carried by cues real emotional speech carries:
pitch level, pitch range and accents, speaking rate, pauses, vocal effort (spectral tilt),
an exclamative contour and the formant raise of a smile. Each is drawn per clip from
*overlapping* per-emotion ranges (``PROSODY``). The cues a model must not use are made
uninformative by construction:

* **duration** -- the four emotions of one (speaker, sentence) group are rendered first and
  every clip of the group is padded to the group's longest take plus a random pad drawn
  independently of the emotion; the leading silence is a random share of that pad, so
  neither the length nor the onset depends on the emotion (the offset does: it is where
  the speech ends, i.e. the speaking rate);
* **level** -- every final clip is scaled to a random RMS drawn independently of the
  emotion (espeak's amplitude changes nothing after that), and the segments of a cue clip
  share one RMS;
* **recording** -- additive white/pink/brown noise at a random SNR, drawn independently
  of the emotion;
* **voice brightness** -- espeak's variants differ in spectral tilt by more than one
  emotion step, so each voice is first equalised (``voice_eq_db``) to a common reference
  plus a small per-speaker ``timbre_db``.

Pitch range beyond espeak's SSML limit (200 %) is reached by speaking each take with a
voice file written for it: the language's voice file, the variant's lines (exactly what
``-v lang+variant`` loads) and a ``pitch low high`` line whose span is scaled by the take's
``range`` (% of the voice's own span).

Test speakers are held out (``split == "test"``). The planted-cue set (``split == "cue"``,
spoken by the test speakers in a Latin square) puts one short phrase in a target emotion
(angry, happy or sad) among two neutral carrier sentences of the same speaker, at a random
position; ``cue_start``/``cue_end`` give the phrase's span in seconds on the final
waveform (leading silence included), so explanation methods can be scored on whether they
point at it. Its generation-parameter columns describe the cue phrase, whose prosody is
drawn from the half of each range farther from neutral (``draw_take(marked=True)``).

Everything is deterministic for a seed: each clip draws from its own
``numpy.random.Generator`` seeded with ``(seed, set, clip index)`` and espeak-ng itself is
deterministic, so the same seed gives byte-identical WAVs and manifest (on one machine
and espeak-ng version).

Usage::

    from core.data.synthetic import generate
    manifest = generate("assets/demo", seed=0, size="full")
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Sequence
from xml.sax.saxutils import escape

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from core.data.corpora import write_manifest
from core.errors import ConfigError, SerwbError

CORPUS_NAME = "serwb-demo"
EMOTIONS = ("angry", "happy", "neutral", "sad")
#: Emotions a planted cue can carry (a neutral cue in neutral carrier speech is no cue).
CUE_EMOTIONS = ("angry", "happy", "sad")
SAMPLE_RATE = 16_000
SPLITS = ("train", "test", "cue")

MANIFEST_COLUMNS = (
    "path", "label", "speaker", "corpus", "sentence", "split", "cue_start", "cue_end",
    # generation parameters (for a cue clip: those of the cue phrase); see Take, _finish
    "voice", "base_pitch", "speaker_rate", "voice_eq_db", "rate", "pitch", "range",
    "amplitude", "tilt", "warp", "gap", "pause_ms", "emphasis", "exclaim", "snr_db", "noise",
    "rms_dbfs", "gain_db", "lead_s", "trail_s", "duration", "cue_text", "cue_position",
    "seed", "index",
)


# --------------------------------------------------------------------------------------
# Parameters as data
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A closed range ``[lo, hi]`` a parameter is drawn from uniformly."""

    lo: float
    hi: float

    def draw(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.lo, self.hi))

    def draw_away(self, rng: np.random.Generator, ref: "Span") -> float:
        """Draw from the half of this range farther from ``ref``'s centre."""
        mid = 0.5 * (self.lo + self.hi)
        lo, hi = (mid, self.hi) if 0.5 * (ref.lo + ref.hi) <= mid else (self.lo, mid)
        return float(rng.uniform(lo, hi))


@dataclass(frozen=True)
class EmotionProsody:
    """How one emotion is spoken: every field is a range (or a chance) drawn per clip.

    The ranges of neighbouring emotions overlap on purpose, so no single parameter
    separates them; together they do. Directions follow the summaries of acted emotional
    speech in Banse & Scherer (1996) and Scherer (2003): anger raises rate, pitch and
    vocal effort (a brighter spectrum) most; joy raises pitch and widens its range most
    (and smiling raises formants, Tartter 1980); sadness lowers pitch, narrows its range,
    slows down, pauses and softens (a darker spectrum).
    """

    rate: Span  # multiplier of the speaker's habitual rate (espeak -s, words per minute)
    pitch: Span  # offset added to the speaker's base pitch on espeak's -p scale (0..99)
    range: Span  # % of the voice's pitch span (its "pitch low high" line); 100 = as is
    amplitude: Span  # espeak -a (0..200); the final level is re-drawn independently of
    #                  the emotion, so this only changes espeak's own rendering
    tilt: Span  # dB gain of a high shelf at TILT_HZ: + brighter (more effort), - darker
    warp: Span  # frequency scale of the whole take (formants and pitch, 1.0 = none),
    #             done by resampling; > 1 is the "smile" of joy
    gap: Span  # espeak -g word gap, units of 10 ms at the default speed
    pause_prob: float  # chance of one SSML <break> at a random word boundary
    pause_ms: Span  # its length
    emphasis_prob: float  # chance of one SSML <emphasis level="strong"> word (pitch accent)
    exclaim_prob: float  # chance the sentence ends in "!" (espeak's exclamative contour)


#: Per-emotion prosody. In every parameter, the ranges of emotions that are neighbours on
#: it overlap (rate: sad < neutral < happy < angry; pitch: sad < neutral < angry < happy;
#: range: sad < neutral < angry < happy; tilt: sad < neutral < happy < angry; ...), so no
#: single parameter is an oracle. Tuned so that a logistic regression on summary log-mel
#: statistics reaches ~0.83 on held-out speakers and a small CNN ~0.9.
PROSODY: Mapping[str, EmotionProsody] = MappingProxyType({
    # hot anger: fastest, raised pitch with an ordinary range, the most vocal effort
    "angry": EmotionProsody(
        rate=Span(1.18, 1.42), pitch=Span(5, 16), range=Span(80, 150),
        amplitude=Span(130, 180), tilt=Span(9.0, 17.0), warp=Span(0.99, 1.035),
        gap=Span(0, 1), pause_prob=0.0, pause_ms=Span(0, 0),
        emphasis_prob=0.0, exclaim_prob=0.35,
    ),
    # joy: highest pitch and by far the widest range, accents, exclamations, a smile
    "happy": EmotionProsody(
        rate=Span(1.00, 1.20), pitch=Span(12, 26), range=Span(145, 340),
        amplitude=Span(110, 160), tilt=Span(2.0, 9.5), warp=Span(1.03, 1.09),
        gap=Span(0, 2), pause_prob=0.0, pause_ms=Span(0, 0),
        emphasis_prob=0.6, exclaim_prob=0.8,
    ),
    # neutral: the speaker's habitual settings, give or take
    "neutral": EmotionProsody(
        rate=Span(0.90, 1.06), pitch=Span(-4, 6), range=Span(65, 130),
        amplitude=Span(90, 130), tilt=Span(-3.5, 2.5), warp=Span(0.98, 1.02),
        gap=Span(0, 3), pause_prob=0.15, pause_ms=Span(80, 200),
        emphasis_prob=0.0, exclaim_prob=0.0,
    ),
    # sadness: slow, low and flat, with pauses and a dark, lax voice
    "sad": EmotionProsody(
        rate=Span(0.76, 0.92), pitch=Span(-10, 0), range=Span(15, 70),
        amplitude=Span(60, 100), tilt=Span(-15.0, -3.0), warp=Span(0.96, 0.985),
        gap=Span(1, 4), pause_prob=0.4, pause_ms=Span(100, 250),
        emphasis_prob=0.0, exclaim_prob=0.0,
    ),
})

#: Corner frequency (Hz) of the high-shelf "vocal effort" filter.
TILT_HZ = 1500.0
#: espeak's variants differ in brightness by more than one emotion step; each voice's
#: neutral spectral tilt (spectral_tilt_db) is first equalised to this plus its timbre_db.
REFERENCE_TILT_DB = -10.0


@dataclass(frozen=True)
class Recording:
    """Recording conditions, all drawn independently of the emotion."""

    snr_db: Span = Span(20.0, 40.0)  # speech RMS over noise RMS
    noises: tuple[str, ...] = ("white", "pink", "brown")  # 1/f^0, 1/f^1, 1/f^2 power
    rms_dbfs: Span = Span(-36.0, -24.0)  # final whole-clip RMS, dB re full scale; the top
    #                                      leaves ~24 dB for the crest of bright speech
    pad_s: Span = Span(0.1, 0.4)  # silence added to the group's longest take
    lead_share: Span = Span(0.15, 0.85)  # share of the pad put before the speech
    peak_max: float = 0.97  # scaled down further if the target RMS would clip
    # planted-cue clips
    cue_gap_s: Span = Span(0.1, 0.25)  # silence between the segments
    cue_edge_s: Span = Span(0.1, 0.3)  # leading and trailing silence
    cue_level_db: Span = Span(-1.5, 1.5)  # per-segment level jitter (segments share RMS)


RECORDING = Recording()


@dataclass(frozen=True)
class Speaker:
    """A synthetic speaker: an espeak-ng voice (language + variant) and habits."""

    id: str
    voice: str  # espeak-ng -v
    base_pitch: int  # espeak -p the emotion offsets are added to
    rate_wpm: int  # habitual speaking rate (espeak -s) the emotion multiplies
    timbre_db: float  # the voice's own brightness: its neutral spectral tilt is
    #                   equalised to REFERENCE_TILT_DB + timbre_db (see voice_eq_db)
    split: str  # "train" or "test" (test speakers are held out; they also speak the cues)


SPEAKERS: tuple[Speaker, ...] = (
    # id, voice, base pitch (-p), rate (wpm), timbre (dB), split
    Speaker("demo-01", "en-us+m1", 72, 165, -1.0, "train"),
    Speaker("demo-02", "en+f2", 38, 160, 0.5, "train"),
    Speaker("demo-03", "en-gb-x-rp+m3", 68, 170, 1.5, "train"),
    Speaker("demo-04", "en-us+f1", 36, 158, 1.0, "train"),
    Speaker("demo-05", "en+m4", 74, 172, 1.5, "train"),
    Speaker("demo-06", "en-029+m7", 68, 162, -1.5, "train"),
    Speaker("demo-07", "en-us+f4", 40, 168, -0.5, "train"),
    Speaker("demo-08", "en-gb-scotland+m6", 70, 155, -1.0, "train"),
    Speaker("demo-09", "en+f5", 34, 164, 0.0, "train"),
    Speaker("demo-10", "en-us-nyc+m8", 76, 170, -1.5, "train"),
    Speaker("demo-11", "en-gb-x-gbclan+f1", 39, 160, 0.5, "train"),
    Speaker("demo-12", "en-gb-x-gbcwmd+Andy", 72, 163, 0.0, "train"),
    Speaker("demo-13", "en-us+m2", 70, 166, 1.0, "test"),
    Speaker("demo-14", "en+f3", 37, 162, -0.5, "test"),
    Speaker("demo-15", "en-gb-x-rp+m5", 68, 160, 0.5, "test"),
)

#: Short sentences of neutral content (RAVDESS / CREMA-D style).
SENTENCES: tuple[str, ...] = (
    "Kids are talking by the door.",  # RAVDESS statement 1
    "Dogs are sitting by the door.",  # RAVDESS statement 2
    "It is eleven o'clock.",  # CREMA-D style from here on
    "That is exactly what happened.",
    "I'm on my way to the meeting.",
    "The airplane is almost full.",
    "Maybe tomorrow it will be cold.",
    "I would like a new alarm clock.",
    "Don't forget a jacket.",
    "I think I've seen this before.",
    "The surface is slick.",
    "We'll stop in a couple of minutes.",
    "The box is on the kitchen table.",
    "She walked to the station.",
    "The train leaves at noon.",
    "He opened the window.",
    "The meeting starts at nine.",
    "There are three chairs in the room.",
    "The paper is on the desk.",
    "We are going to the market.",
    "The car is parked outside.",
    "They moved the boxes yesterday.",
    "The lamp is next to the bed.",
    "Her bag is in the hall.",
)

#: What the equalisation is measured on, spoken neutrally at the speaker's own settings:
#: all sentences, since one sentence's sounds (fricatives ...) move the tilt by +-5 dB.
CALIBRATION_TEXT = " ".join(SENTENCES)

#: Carrier sentences of planted-cue clips: the shorter ones, to keep those clips ~4-5 s.
CARRIERS: tuple[str, ...] = tuple(s for s in SENTENCES if len(s) <= 28)

#: Short phrases spoken in the target emotion inside planted-cue clips.
CUE_PHRASES: tuple[str, ...] = (
    "Open the door now.",
    "Look at this one.",
    "Not this time.",
    "Come over here.",
    "That was the last one.",
    "Give me the keys.",
)


@dataclass(frozen=True)
class SizeSpec:
    """How much of the corpus to render."""

    speakers: tuple[str, ...]  # speaker ids; their split comes from SPEAKERS
    sentences_per_speaker: int  # each spoken in all four emotions
    cues_per_emotion: int  # planted-cue clips per cue emotion


SIZES: Mapping[str, SizeSpec] = MappingProxyType({
    # for tests: 2 train + 1 test speaker x 4 emotions x 1 sentence, 3 cue clips
    "small": SizeSpec(("demo-01", "demo-02", "demo-13"), 1, 1),
    # the shipped corpus (assets/demo, <= 25 MB)
    "full": SizeSpec(tuple(s.id for s in SPEAKERS), 4, 6),
})


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


_INSTALL_HINT = (
    "`apt-get install espeak-ng` (Debian/Ubuntu) or `brew install espeak-ng` (macOS), "
    "then run the command again. The synthetic demo corpus is spoken by it."
)
#: espeak-ng's pitch range when a voice names none (Hz).
_DEFAULT_VOICE_PITCH = (80, 118)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


class Espeak:
    """espeak-ng with per-take voice files.

    espeak's SSML ``<prosody range>`` stops at 200 %, too narrow for joyful speech, so each
    take is spoken by a voice file written for it: the language's voice file, then the
    variant's lines (which is what ``-v lang+variant`` loads: a test checks that the two
    render plain text byte-identically), then one ``pitch <low> <high>`` line whose span is
    the voice's span scaled by the take's ``range``. (espeak's ``pitch`` keyword also
    nudges formants by ``(low - 82) / 328``; a variant without its own pitch line, such as
    m5, therefore sounds about 0.6 % different from ``-v``. Harmless here.)
    """

    def __init__(self, workdir: Path):
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise ConfigError(f"espeak-ng is not installed: {_INSTALL_HINT}")
        self.exe = exe
        self.workdir = Path(workdir)
        proc = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
        data = proc.stdout.split("Data at:")[-1].strip() if "Data at:" in proc.stdout else ""
        self.data = Path(data)
        if not data or not (self.data / "lang").is_dir() or not (self.data / "voices" / "!v").is_dir():
            raise ConfigError(
                f"espeak-ng's data folder was not found (`espeak-ng --version` says "
                f"{proc.stdout.strip()!r}); reinstall it: {_INSTALL_HINT}"
            )
        self._languages = self._index_languages()
        self._voices: dict[str, tuple[str, tuple[int, int]]] = {}
        self.eq_cache: dict[str, float] = {}

    def _index_languages(self) -> dict[str, Path]:
        """Language code -> voice file of the highest priority (lowest number)."""
        best: dict[str, tuple[int, str, Path]] = {}
        for f in sorted((self.data / "lang").rglob("*")):
            if not f.is_file():
                continue
            for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "language":
                    prio = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 5
                    key = (prio, str(f))
                    if parts[1] not in best or key < best[parts[1]][:2]:
                        best[parts[1]] = (prio, str(f), f)
        return {code: v[2] for code, v in best.items()}

    def voice(self, name: str) -> tuple[str, tuple[int, int]]:
        """(voice-file text, (low, high) pitch in Hz) of ``lang+variant``."""
        if name in self._voices:
            return self._voices[name]
        lang, _, variant = name.partition("+")
        if lang not in self._languages:
            raise ConfigError(f"espeak-ng has no language {lang!r}; see `espeak-ng --voices`")
        text = self._languages[lang].read_text(encoding="utf-8", errors="replace")
        pitch = _DEFAULT_VOICE_PITCH
        for line in text.splitlines():
            if line.split()[:1] == ["pitch"]:
                pitch = (int(line.split()[1]), int(line.split()[2]))
        if variant:
            vfile = self.data / "voices" / "!v" / variant
            if not vfile.is_file():
                raise ConfigError(f"espeak-ng has no voice variant {variant!r} ({vfile})")
            lines = []
            for line in vfile.read_text(encoding="utf-8", errors="replace").splitlines():
                key = line.split()[:1]
                if key in (["language"], ["name"]):
                    continue
                if key == ["pitch"]:
                    pitch = (int(line.split()[1]), int(line.split()[2]))
                lines.append(line)
            text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
        self._voices[name] = (text, pitch)
        return self._voices[name]

    def speak(
        self, voice: str, ssml: str, *, rate: int, pitch: int, amplitude: int, gap: int,
        range_pct: float | None = None,
    ) -> tuple[np.ndarray, int]:
        """Render SSML; ``range_pct`` scales the voice's pitch span (None: espeak's own -v)."""
        if range_pct is None:
            vargs = ["-v", voice]
        else:
            text, (lo, hi) = self.voice(voice)
            top = int(round(lo + (hi - lo) * range_pct / 100.0))
            (self.workdir / "serwb_take").write_text(
                text + f"\npitch {lo} {max(top, lo + 1)}\n", encoding="utf-8"
            )
            vargs = ["--load", "-v", "serwb_take"]
        cmd = [
            self.exe, "-m", "-z", *vargs, "-s", str(rate), "-p", str(pitch),
            "-a", str(amplitude), "-g", str(gap), "--stdout", ssml,
        ]
        proc = subprocess.run(cmd, capture_output=True, check=False, cwd=self.workdir)
        if proc.returncode != 0 or len(proc.stdout) < 100:
            raise SerwbError(
                f"espeak-ng failed for voice {voice!r} (exit {proc.returncode}): "
                f"{proc.stderr.decode(errors='replace').strip()[:300]}. Check that the "
                "voice exists: `espeak-ng --voices=en`."
            )
        x, sr = sf.read(io.BytesIO(proc.stdout), dtype="float64")
        return x, sr


@dataclass(frozen=True)
class Take:
    """The prosody drawn for one spoken segment."""

    rate: int
    pitch: int
    range: int
    amplitude: int
    tilt: float
    warp: float
    gap: int
    pause_ms: int  # 0: no break
    emphasis: int  # 0: none, else 1-based index of the emphasised word
    exclaim: bool


def draw_take(
    emotion: str, speaker: Speaker, text: str, rng: np.random.Generator, *,
    marked: bool = False,
) -> Take:
    """Draw the prosody of one take of ``text`` in ``emotion`` by ``speaker``.

    ``marked``: draw rate, pitch, range, tilt and warp from the half of each range farther
    from neutral (planted cues are meant to be unmistakable).
    """
    p, ref = PROSODY[emotion], PROSODY["neutral"]

    def draw(name: str) -> float:
        span = getattr(p, name)
        return span.draw_away(rng, getattr(ref, name)) if marked else span.draw(rng)

    rate = int(round(speaker.rate_wpm * draw("rate")))
    pitch = int(np.clip(round(speaker.base_pitch + draw("pitch")), 0, 99))
    rng_range = int(round(draw("range")))
    amplitude = int(np.clip(round(p.amplitude.draw(rng)), 1, 200))
    tilt = round(draw("tilt"), 2)
    warp = round(draw("warp"), 3)
    gap = int(round(p.gap.draw(rng)))
    pause = int(round(p.pause_ms.draw(rng))) if rng.random() < p.pause_prob else 0
    n_words = len(text.split())
    emphasis = int(rng.integers(1, n_words + 1)) if rng.random() < p.emphasis_prob else 0
    exclaim = bool(rng.random() < p.exclaim_prob)
    return Take(rate, pitch, rng_range, amplitude, tilt, warp, gap, pause, emphasis, exclaim)


def _ssml(text: str, take: Take, rng: np.random.Generator) -> str:
    words = [escape(w) for w in text.rstrip(".!?").split()]
    if take.emphasis:
        k = take.emphasis - 1
        words[k] = f'<emphasis level="strong">{words[k]}</emphasis>'
    if take.pause_ms and len(words) > 2:
        k = int(rng.integers(1, len(words) - 1))
        words = words[:k] + [f'<break time="{take.pause_ms}ms"/>'] + words[k:]
    body = " ".join(words) + ("!" if take.exclaim else ".")
    return f"<speak>{body}</speak>"


def _trim(x: np.ndarray, sr: int, rel_db: float = -45.0, margin_s: float = 0.02) -> np.ndarray:
    """Cut leading/trailing silence: frames 45 dB under the loudest 10 ms frame."""
    hop = max(1, int(0.01 * sr))
    n = len(x) // hop
    if n == 0:
        return x
    frames = x[: n * hop].reshape(n, hop)
    level = np.sqrt(np.mean(frames**2, axis=1)) + 1e-12
    on = np.flatnonzero(20 * np.log10(level / level.max()) > rel_db)
    m = int(margin_s * sr)
    start = max(0, on[0] * hop - m)
    stop = min(len(x), (on[-1] + 1) * hop + m)
    return x[start:stop]


def spectral_tilt_db(
    x: np.ndarray, sr: int, *, split_hz: float = TILT_HZ, lo_hz: float = 100.0,
    hi_hz: float = 6000.0,
) -> float:
    """Energy above ``split_hz`` over energy below it (dB), within ``[lo_hz, hi_hz]``."""
    power = np.abs(np.fft.rfft(np.asarray(x, dtype=np.float64))) ** 2
    f = np.fft.rfftfreq(len(x), 1.0 / sr)
    high = power[(f >= split_hz) & (f < hi_hz)].sum()
    low = power[(f >= lo_hz) & (f < split_hz)].sum()
    return float(10 * np.log10((high + 1e-20) / (low + 1e-20)))


def _shape(x: np.ndarray, sr: int, warp: float, shelf_db: float) -> np.ndarray:
    """Frequency-warp, resample to 16 kHz and high-shelf ``x``; returns RMS 0.05."""
    # Scale far under full scale first: torchaudio's lfilter clamps its output to [-1, 1].
    t = torch.from_numpy(1e-3 * x / (np.sqrt(np.mean(x**2)) + 1e-12))
    # Reading the take as if it were recorded at sr * warp scales every frequency by warp
    # (rounded to 50 Hz steps, which keeps the resampling kernel small).
    t = AF.resample(t, int(round(sr * warp / 50.0)) * 50, SAMPLE_RATE)
    t = AF.treble_biquad(t, SAMPLE_RATE, shelf_db, central_freq=TILT_HZ)
    y = t.numpy()
    return 0.05 * y / (np.sqrt(np.mean(y**2)) + 1e-12)


def voice_eq_db(engine: Espeak, speaker: Speaker) -> float:
    """High-shelf gain (dB) that brings the speaker's neutral tilt to the reference.

    Measured on CALIBRATION_TEXT spoken at the speaker's own rate and pitch, refined once
    (the shelf is not a pure tilt). Cached per engine; deterministic.
    """
    if speaker.id in engine.eq_cache:
        return engine.eq_cache[speaker.id]
    x, sr = engine.speak(
        speaker.voice, f"<speak>{escape(CALIBRATION_TEXT)}</speak>", rate=speaker.rate_wpm,
        pitch=speaker.base_pitch, amplitude=100, gap=0, range_pct=100,
    )
    x = _trim(x, sr)
    target = REFERENCE_TILT_DB + speaker.timbre_db
    gain = 0.0
    for _ in range(3):
        gain += target - spectral_tilt_db(_shape(x, sr, 1.0, gain), SAMPLE_RATE)
    engine.eq_cache[speaker.id] = round(gain, 2)
    return engine.eq_cache[speaker.id]


def render_take(
    engine: Espeak, speaker: Speaker, text: str, take: Take, rng: np.random.Generator
) -> np.ndarray:
    """Speak ``text`` with ``take``: 16 kHz float64, trimmed, voice-equalised, vocal-effort
    filtered (``take.tilt``), RMS 0.05."""
    x, sr = engine.speak(
        speaker.voice, _ssml(text, take, rng), rate=take.rate, pitch=take.pitch,
        amplitude=take.amplitude, gap=take.gap, range_pct=take.range,
    )
    return _shape(_trim(x, sr), sr, take.warp, voice_eq_db(engine, speaker) + take.tilt)


def make_noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS white (1/f^0), pink (1/f) or brown (1/f^2) noise of ``n`` samples."""
    w = rng.standard_normal(n)
    if kind != "white":
        alpha = {"pink": 1.0, "brown": 2.0}[kind]
        spec = np.fft.rfft(w)
        f = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
        f = np.maximum(f, 20.0)  # no DC drift
        spec = spec / f ** (alpha / 2)
        w = np.fft.irfft(spec, n)
    return w / (np.sqrt(np.mean(w**2)) + 1e-12)


def _finish(
    speech: np.ndarray, speech_rms: float, rng: np.random.Generator
) -> tuple[np.ndarray, dict]:
    """Add noise at a random SNR and scale the whole clip to a random RMS."""
    rec = RECORDING
    noise_kind = rec.noises[int(rng.integers(len(rec.noises)))]
    snr = round(rec.snr_db.draw(rng), 2)
    noise = make_noise(noise_kind, len(speech), rng) * speech_rms / 10 ** (snr / 20)
    y = speech + noise
    target = round(rec.rms_dbfs.draw(rng), 2)
    gain = 10 ** (target / 20) / (np.sqrt(np.mean(y**2)) + 1e-12)
    peak = np.abs(y).max() * gain
    if peak > rec.peak_max:
        gain *= rec.peak_max / peak
    y = y * gain
    return y, {
        "snr_db": snr, "noise": noise_kind, "rms_dbfs": target,
        "gain_db": round(20 * np.log10(gain), 2),
    }


def _write_wav(path: Path, y: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    sf.write(tmp, y.astype(np.float32), SAMPLE_RATE, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)


def _rng(seed: int, kind: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, kind, index]))


def _speaker(sid: str) -> Speaker:
    for s in SPEAKERS:
        if s.id == sid:
            return s
    raise ConfigError(f"unknown synthetic speaker {sid!r}")


def _take_columns(take: Take) -> dict:
    d = asdict(take)
    d["exclaim"] = int(d["exclaim"])
    return d


# --------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------


def _main_clips(engine: Espeak, spec: SizeSpec, seed: int, out: Path, bar) -> list[dict]:
    rows: list[dict] = []
    index = 0
    for sid in spec.speakers:
        spk = _speaker(sid)
        for j in range(spec.sentences_per_speaker):
            # speakers take consecutive, wrapping blocks of the sentence list
            s_idx = (SPEAKERS.index(spk) * spec.sentences_per_speaker + j) % len(SENTENCES)
            text = SENTENCES[s_idx]
            group = []
            for emotion in EMOTIONS:
                rng = _rng(seed, 0, index)
                take = draw_take(emotion, spk, text, rng)
                speech = render_take(engine, spk, text, take, rng)
                group.append((emotion, index, rng, take, speech))
                index += 1
            longest = max(len(g[4]) for g in group)
            for emotion, idx, rng, take, speech in group:
                pad = int(RECORDING.pad_s.draw(rng) * SAMPLE_RATE)
                total = longest + pad
                # the onset depends on the pad only, never on this take's own length
                lead = int(RECORDING.lead_share.draw(rng) * pad)
                y = np.zeros(total)
                y[lead: lead + len(speech)] = speech
                y, rec = _finish(y, 0.05, rng)
                rel = Path(spk.split) / spk.id / f"{spk.id}_s{s_idx:02d}_{emotion}.wav"
                _write_wav(out / rel, y)
                rows.append({
                    "path": rel.as_posix(), "label": emotion, "speaker": spk.id,
                    "corpus": CORPUS_NAME, "sentence": text, "split": spk.split,
                    "cue_start": "", "cue_end": "", "voice": spk.voice,
                    "base_pitch": spk.base_pitch, "speaker_rate": spk.rate_wpm,
                    "voice_eq_db": voice_eq_db(engine, spk),
                    **_take_columns(take), **rec,
                    "lead_s": round(lead / SAMPLE_RATE, 4),
                    "trail_s": round((total - lead - len(speech)) / SAMPLE_RATE, 4),
                    "duration": round(total / SAMPLE_RATE, 4), "cue_text": "",
                    "cue_position": "", "seed": seed, "index": idx,
                })
                bar.update(1)
    return rows


def _cue_clips(engine: Espeak, spec: SizeSpec, seed: int, out: Path, bar) -> list[dict]:
    """Neutral carrier sentences with one phrase in a target emotion, at a random place."""
    rows: list[dict] = []
    test_speakers = [s for s in SPEAKERS if s.split == "test"]
    rec = RECORDING
    index = 0
    for i in range(spec.cues_per_emotion):
        for emotion in CUE_EMOTIONS:
            rng = _rng(seed, 1, index)
            # a Latin square: every cue emotion is spoken by every test speaker in turn
            spk = test_speakers[(i + CUE_EMOTIONS.index(emotion)) % len(test_speakers)]
            carriers = rng.choice(len(CARRIERS), size=2, replace=False)
            phrase = CUE_PHRASES[int(rng.integers(len(CUE_PHRASES)))]
            position = int(rng.integers(3))
            texts = [CARRIERS[int(c)] for c in carriers]
            texts.insert(position, phrase)
            segs, cue_take = [], None
            for pos, text in enumerate(texts):
                em = emotion if pos == position else "neutral"
                take = draw_take(em, spk, text, rng, marked=pos == position)
                if pos == position:
                    cue_take = take
                seg = render_take(engine, spk, text, take, rng)
                segs.append(seg * 10 ** (rec.cue_level_db.draw(rng) / 20))
            speech_rms = float(np.sqrt(np.mean(np.concatenate(segs) ** 2)))
            lead = int(rec.cue_edge_s.draw(rng) * SAMPLE_RATE)
            parts, t = [np.zeros(lead)], lead
            cue_span = (0, 0)
            for pos, seg in enumerate(segs):
                if pos:
                    gap = int(rec.cue_gap_s.draw(rng) * SAMPLE_RATE)
                    parts.append(np.zeros(gap))
                    t += gap
                if pos == position:
                    cue_span = (t, t + len(seg))
                parts.append(seg)
                t += len(seg)
            trail = int(rec.cue_edge_s.draw(rng) * SAMPLE_RATE)
            parts.append(np.zeros(trail))
            y, rec_cols = _finish(np.concatenate(parts), speech_rms, rng)
            rel = Path("cue") / f"cue{index:03d}_{spk.id}_{emotion}.wav"
            _write_wav(out / rel, y)
            sentence = " ".join(
                t_.rstrip(".!?") + ("!" if (p == position and cue_take.exclaim) else ".")
                for p, t_ in enumerate(texts)
            )
            rows.append({
                "path": rel.as_posix(), "label": emotion, "speaker": spk.id,
                "corpus": CORPUS_NAME, "sentence": sentence, "split": "cue",
                "cue_start": round(cue_span[0] / SAMPLE_RATE, 4),
                "cue_end": round(cue_span[1] / SAMPLE_RATE, 4), "voice": spk.voice,
                "base_pitch": spk.base_pitch, "speaker_rate": spk.rate_wpm,
                "voice_eq_db": voice_eq_db(engine, spk),
                **_take_columns(cue_take), **rec_cols,
                "lead_s": round(lead / SAMPLE_RATE, 4), "trail_s": round(trail / SAMPLE_RATE, 4),
                "duration": round(len(y) / SAMPLE_RATE, 4), "cue_text": phrase,
                "cue_position": position, "seed": seed, "index": index,
            })
            index += 1
            bar.update(1)
    return rows


def _old_files(out: Path) -> set[Path]:
    """WAVs a previous serwb-demo manifest in ``out`` listed (safe to replace)."""
    manifest = out / "manifest.csv"
    if not manifest.is_file():
        return set()
    try:
        with manifest.open(newline="", encoding="utf-8") as f:
            return {
                (out / r["path"]).resolve() for r in csv.DictReader(f)
                if r.get("corpus") == CORPUS_NAME and r.get("path")
            }
    except (OSError, csv.Error, KeyError, UnicodeDecodeError):
        return set()


def generate(
    out_dir: str | os.PathLike, *, seed: int = 0, size: str = "full", progress: bool = True
) -> Path:
    """Render the serwb-demo corpus and its planted-cue set into ``out_dir``.

    Returns the path of ``manifest.csv``. WAVs go to ``train/<speaker>/``,
    ``test/<speaker>/`` and ``cue/``; the manifest is written last (through a temporary
    file), so an interrupted run leaves no manifest, and any previous manifest is removed
    before the first WAV is written. WAVs a previous serwb-demo manifest listed and this
    run does not produce are deleted.
    """
    if size not in SIZES:
        raise ConfigError(f"unknown corpus size {size!r}; choose one of: {', '.join(SIZES)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    if not espeak_available():
        raise ConfigError(f"espeak-ng is not installed: {_INSTALL_HINT}")
    spec = SIZES[size]
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} exists and is not a folder; pick another --out")
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.csv"
    stale = _old_files(out)
    if manifest.exists():
        manifest.unlink()

    from tqdm.auto import tqdm

    n_total = len(spec.speakers) * spec.sentences_per_speaker * len(EMOTIONS) + (
        spec.cues_per_emotion * len(CUE_EMOTIONS)
    )
    with tempfile.TemporaryDirectory(prefix="serwb-espeak-") as work, tqdm(
        total=n_total, desc=f"serwb-demo ({size})", unit="clip", disable=not progress
    ) as bar:
        engine = Espeak(Path(work))
        rows = _main_clips(engine, spec, seed, out, bar)
        rows += _cue_clips(engine, spec, seed, out, bar)

    root = out.resolve()
    for p in stale - {(out / r["path"]).resolve() for r in rows}:
        if p.is_relative_to(root) and p.is_file() and p.suffix == ".wav":
            p.unlink()

    write_manifest(manifest, MANIFEST_COLUMNS, rows)
    return manifest


def read_manifest(path: str | os.PathLike) -> list[dict]:
    """The rows of a serwb-demo manifest as dicts of strings (for checks and notebooks)."""
    with Path(path).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


__all__: Sequence[str] = (
    "CALIBRATION_TEXT", "CARRIERS", "CORPUS_NAME", "CUE_EMOTIONS", "CUE_PHRASES", "EMOTIONS",
    "MANIFEST_COLUMNS", "PROSODY", "RECORDING", "REFERENCE_TILT_DB", "SAMPLE_RATE",
    "SENTENCES", "SIZES", "SPEAKERS", "TILT_HZ", "EmotionProsody", "Espeak", "Recording",
    "SizeSpec", "Span", "Speaker", "Take", "draw_take", "espeak_available", "generate",
    "make_noise", "read_manifest", "render_take", "spectral_tilt_db", "voice_eq_db",
)
