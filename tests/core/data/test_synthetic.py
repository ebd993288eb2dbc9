"""core.data.synthetic: the shipped demo corpus keeps its promises, and generation is
deterministic.

The shipped copy (assets/demo) is checked as data: schema, size budget, that trivial cues
(duration, level, recording conditions) do *not* predict the emotion on held-out speakers
while speech features *do*, and that every planted cue sits where the manifest says and
moves pitch and spectrum the way its emotion should. References are scikit-learn,
torchaudio, scipy and espeak-ng itself. Generation is exercised with size="small".
"""

from __future__ import annotations

import csv
import filecmp
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import torch
import torchaudio
import torchaudio.functional as AF
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from core.data import synthetic as S
from core.data.corpora import load_csv
from core.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "assets" / "demo"
SR = S.SAMPLE_RATE


# ------------------------------------------------------------------ the shipped corpus


@pytest.fixture(scope="module")
def shipped():
    """Manifest rows of assets/demo with their decoded waveforms (float64)."""
    with open(DEMO / "manifest.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames
        rows = list(reader)
    for r in rows:
        r["wave"], r["sr"] = sf.read(DEMO / r["path"], dtype="float64")
    return header, rows


def _main(rows, split=None):
    return [r for r in rows if r["split"] != "cue" and (split is None or r["split"] == split)]


def test_shipped_manifest_schema(shipped):
    header, rows = shipped
    assert tuple(header) == S.MANIFEST_COLUMNS
    assert header[:8] == ["path", "label", "speaker", "corpus", "sentence", "split",
                          "cue_start", "cue_end"]
    assert {r["corpus"] for r in rows} == {"serwb-demo"}
    assert {r["split"] for r in rows} == {"train", "test", "cue"}
    assert {r["label"] for r in _main(rows)} == {"angry", "happy", "neutral", "sad"}
    assert {r["label"] for r in rows if r["split"] == "cue"} == {"angry", "happy", "sad"}

    train = {r["speaker"] for r in _main(rows, "train")}
    test = {r["speaker"] for r in _main(rows, "test")}
    assert not train & test
    assert len(train | test) >= 8 and 2 <= len(test) <= 3
    assert len({r["sentence"] for r in _main(rows)}) >= 20
    # the cue set is spoken by held-out speakers only
    assert {r["speaker"] for r in rows if r["split"] == "cue"} <= test

    # balanced: every speaker says every sentence of theirs in all four emotions
    groups: dict[tuple[str, str], list[str]] = {}
    for r in _main(rows):
        groups.setdefault((r["speaker"], r["sentence"]), []).append(r["label"])
    assert all(sorted(v) == ["angry", "happy", "neutral", "sad"] for v in groups.values())

    for r in rows:
        info = sf.info(DEMO / r["path"])
        assert (info.samplerate, info.channels, info.subtype, info.format) == (
            16_000, 1, "PCM_16", "WAV"), r["path"]
        dur = len(r["wave"]) / r["sr"]
        assert abs(dur - float(r["duration"])) < 1e-3
        if r["split"] == "cue":
            start, end = float(r["cue_start"]), float(r["cue_end"])
            assert 0.0 < start < end < dur, r["path"]
            assert 0.5 < end - start < 2.5
            assert 3.5 < dur < 7.0
        else:
            assert r["cue_start"] == r["cue_end"] == ""
            assert 1.5 <= dur <= 3.6, r["path"]


def test_shipped_copy_fits_its_budget_and_has_no_strays(shipped):
    _, rows = shipped
    files = [p for p in DEMO.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 25_000_000
    listed = {(DEMO / r["path"]).resolve() for r in rows} | {(DEMO / "manifest.csv").resolve()}
    assert {p.resolve() for p in files} == listed


def test_shipped_manifest_loads_with_the_csv_loader():
    manifest = load_csv(DEMO / "manifest.csv")
    assert manifest.corpus == "serwb-demo"
    assert manifest.labels() == ["angry", "happy", "neutral", "sad"]
    train, test = manifest.filter(split="train"), manifest.filter(split="test")
    assert len(train) > 3 * len(test) > 0
    assert not set(train.speakers()) & set(test.speakers())
    assert manifest.filter(split="cue").labels() == ["angry", "happy", "sad"]


def _fit_score(x_train, y_train, x_test, y_test, **lr) -> float:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, **lr))
    return model.fit(x_train, y_train).score(x_test, y_test)


def test_trivial_cues_do_not_reveal_the_emotion(shipped):
    """Duration and RMS level (and the recording conditions) on held-out speakers: <= 0.60."""
    _, rows = shipped
    train, test = _main(rows, "train"), _main(rows, "test")

    def trivial(rs):
        return np.array([[len(r["wave"]) / r["sr"], 20 * np.log10(np.sqrt(np.mean(r["wave"] ** 2)))]
                         for r in rs])

    labels = lambda rs: [r["label"] for r in rs]  # noqa: E731
    acc = _fit_score(trivial(train), labels(train), trivial(test), labels(test))
    assert acc <= 0.60, acc

    enc = OneHotEncoder().fit([[r["noise"]] for r in rows])

    def recording(rs):  # (gain_db is derived: it mirrors how much of the clip is speech)
        num = np.array([[float(r[k]) for k in ("snr_db", "rms_dbfs", "lead_s")] for r in rs])
        return np.hstack([num, enc.transform([[r["noise"]] for r in rs]).toarray(), trivial(rs)])

    acc = _fit_score(recording(train), labels(train), recording(test), labels(test))
    assert acc <= 0.60, acc


def _speech_stats(wave: np.ndarray, mel) -> np.ndarray:
    """Per-band mean, std and mean |frame-to-frame change| of log-mel over the louder frames."""
    spec = torch.log(mel(torch.from_numpy(wave).float()) + 1e-6).numpy()  # (64, frames)
    energy = spec.mean(axis=0)
    floor = np.percentile(energy, 20)
    active = energy > floor + 0.5 * (energy.max() - floor)
    s = spec[:, active]
    s = s - s.mean()
    return np.concatenate([s.mean(axis=1), s.std(axis=1), np.abs(np.diff(s, axis=1)).mean(axis=1)])


def test_emotion_is_learnable_on_held_out_speakers(shipped):
    _, rows = shipped
    mel = torchaudio.transforms.MelSpectrogram(SR, n_fft=400, hop_length=160, n_mels=64)
    train, test = _main(rows, "train"), _main(rows, "test")
    x_train = np.stack([_speech_stats(r["wave"], mel) for r in train])
    x_test = np.stack([_speech_stats(r["wave"], mel) for r in test])
    y_train, y_test = [r["label"] for r in train], [r["label"] for r in test]
    acc = _fit_score(x_train, y_train, x_test, y_test, C=0.1)
    assert acc >= 0.75, acc
    # even the per-band means alone carry most of it
    acc_mean = _fit_score(x_train[:, :64], y_train, x_test[:, :64], y_test, C=0.1)
    assert acc_mean >= 0.70, acc_mean


def _segments(r):
    """(cue, carrier) waveforms of a cue clip; carrier = speech outside the cue span."""
    x, sr = r["wave"], r["sr"]
    a, b = round(float(r["cue_start"]) * sr), round(float(r["cue_end"]) * sr)
    lead, trail = round(float(r["lead_s"]) * sr), len(x) - round(float(r["trail_s"]) * sr)
    return x[a:b], np.concatenate([x[lead:a], x[b:trail]])


def _rms_db(x):
    return 20 * np.log10(np.sqrt(np.mean(x**2)) + 1e-12)


def test_planted_cue_spans_are_where_the_manifest_says(shipped):
    """Just outside the span there is only noise (the gaps), inside it speech."""
    _, rows = shipped
    for r in (r for r in rows if r["split"] == "cue"):
        x, sr = r["wave"], r["sr"]
        a, b = round(float(r["cue_start"]) * sr), round(float(r["cue_end"]) * sr)
        before = x[a - round(0.075 * sr): a - round(0.01 * sr)]
        after = x[b + round(0.01 * sr): b + round(0.075 * sr)]
        inside = _rms_db(x[a:b])
        assert inside - _rms_db(before) > 12, r["path"]
        assert inside - _rms_db(after) > 12, r["path"]
        # and the phrase is loud within 200 ms of both edges (final fricatives are faint)
        frames = x[a:b][: (b - a) // 160 * 160].reshape(-1, 160)
        level = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-12)
        loud = np.flatnonzero(level > level.max() - 25)
        assert loud[0] < 20 and len(level) - 1 - loud[-1] < 20, r["path"]


def _median_f0(x):
    f0 = AF.detect_pitch_frequency(torch.from_numpy(x).float(), SR, frame_time=0.02,
                                   freq_low=60, win_length=7)
    return float(f0.median())


def _centroid(x):
    c = AF.spectral_centroid(torch.from_numpy(x).float(), SR, pad=0,
                             window=torch.hann_window(512), n_fft=512, hop_length=160,
                             win_length=512)
    level = AF.spectrogram(torch.from_numpy(x).float(), pad=0, window=torch.hann_window(512),
                           n_fft=512, hop_length=160, win_length=512, power=2,
                           normalized=False).sum(0)
    return float(c[level > level.max() * 1e-2].median())  # speech frames only


def test_planted_cues_move_pitch_and_spectrum_the_way_their_emotion_should(shipped):
    _, rows = shipped
    shifts = {"angry": [], "happy": [], "sad": []}
    for r in (r for r in rows if r["split"] == "cue"):
        cue, carrier = _segments(r)
        shifts[r["label"]].append((_median_f0(cue) / _median_f0(carrier),
                                   _centroid(cue) / _centroid(carrier)))
    f0 = {k: np.array(v)[:, 0] for k, v in shifts.items()}
    cen = {k: np.array(v)[:, 1] for k, v in shifts.items()}
    assert all(len(v) >= 2 for v in f0.values())
    # joy: much higher pitch; anger: higher pitch and brighter; sadness: lower and darker
    assert np.mean(f0["happy"] > 1.1) >= 0.8 and f0["happy"].mean() > 1.25
    assert np.mean(f0["angry"] > 1.0) >= 0.8
    assert np.mean(cen["angry"] > 1.0) >= 0.8 and cen["angry"].mean() > 1.2
    assert np.mean(f0["sad"] < 1.0) >= 0.8
    assert np.mean(cen["sad"] < 1.0) >= 0.8 and cen["sad"].mean() < 0.9


# ------------------------------------------------------------------ generation


def test_generate_is_deterministic_per_seed_and_cleans_its_own_stale_files(tmp_path):
    a = S.generate(tmp_path / "a", seed=7, size="small", progress=False)
    b = S.generate(tmp_path / "b", seed=7, size="small", progress=False)
    files_a = sorted(p.relative_to(a.parent) for p in a.parent.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b.parent) for p in b.parent.rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 10
    match, mismatch, errors = filecmp.cmpfiles(a.parent, b.parent, files_a, shallow=False)
    assert not mismatch and not errors

    rows = S.read_manifest(a)
    spec = S.SIZES["small"]
    assert len(rows) == len(spec.speakers) * spec.sentences_per_speaker * 4 + 3 * spec.cues_per_emotion
    assert [r["index"] for r in rows if r["split"] != "cue"] == [str(i) for i in range(len(rows) - 3)]
    assert {r["split"] for r in rows} == {"train", "test", "cue"}
    for r in rows:
        x, sr = sf.read(a.parent / r["path"])
        assert sr == 16_000 and x.ndim == 1

    # A file the previous manifest listed goes; the user's own files stay.
    stale = a.parent / "train" / "old.wav"
    stale.write_bytes((a.parent / rows[0]["path"]).read_bytes())
    mine = a.parent / "notes.wav"
    mine.write_bytes(b"not ours")
    with open(a, "a", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerow(
            ["train/old.wav", "sad", "demo-01", "serwb-demo"] + [""] * (len(S.MANIFEST_COLUMNS) - 4))
    c = S.generate(a.parent, seed=8, size="small", progress=False)
    assert not stale.exists() and mine.exists()
    assert not (a.parent / "manifest.csv.part").exists()
    assert c.read_bytes() != b.read_bytes()
    first = S.read_manifest(b)[0]["path"]
    assert (c.parent / first).read_bytes() != (b.parent / first).read_bytes()


def test_generate_refuses_bad_settings_with_actionable_errors(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="small, full"):
        S.generate(tmp_path, size="huge")
    for seed in (-1, 1.5, "0", True):
        with pytest.raises(ConfigError, match="seed"):
            S.generate(tmp_path, seed=seed, size="small")
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng on it
    with pytest.raises(ConfigError, match="apt-get install espeak-ng"):
        S.generate(tmp_path / "out", size="small")
    assert not (tmp_path / "out").exists()


def test_per_take_voice_file_is_what_espeak_loads_for_the_voice(tmp_path):
    """At range 100 % our voice file renders byte-identically to ``-v lang+variant``
    (for every speaker whose variant names its pitch; see Espeak's docstring)."""
    engine = S.Espeak(tmp_path)
    checked = 0
    for spk in S.SPEAKERS:
        vfile = engine.data / "voices" / "!v" / spk.voice.partition("+")[2]
        if not any(line.split()[:1] == ["pitch"] for line in vfile.read_text().splitlines()):
            continue
        kw = dict(rate=spk.rate_wpm, pitch=spk.base_pitch, amplitude=100, gap=0)
        ours, sr = engine.speak(spk.voice, "Kids are talking by the door.", range_pct=100, **kw)
        theirs, _ = engine.speak(spk.voice, "Kids are talking by the door.", **kw)
        assert sr == 22_050 and np.array_equal(ours, theirs), spk.voice
        checked += 1
    assert checked >= 12


def test_range_widens_the_pitch_span_beyond_ssml_s_limit(tmp_path):
    engine = S.Espeak(tmp_path)

    def f0_spread(range_pct):
        x, sr = engine.speak("en-us+m1", "<speak>Kids are talking by the door!</speak>",
                             rate=165, pitch=60, amplitude=100, gap=0, range_pct=range_pct)
        f0 = AF.detect_pitch_frequency(torch.from_numpy(x).float(), sr, freq_low=60,
                                       win_length=7).numpy()
        f0 = f0[f0 < 400]  # unvoiced frames give wild values
        return np.percentile(f0, 75) - np.percentile(f0, 25)

    narrow, normal, wide = f0_spread(30), f0_spread(100), f0_spread(300)
    assert narrow < normal < wide and wide > 2 * normal


def test_voice_equalisation_brings_voices_to_the_reference_tilt(tmp_path):
    engine = S.Espeak(tmp_path)
    spk = S.SPEAKERS[0]
    take = S.Take(rate=spk.rate_wpm, pitch=spk.base_pitch, range=100, amplitude=100,
                  tilt=0.0, warp=1.0, gap=0, pause_ms=0, emphasis=0, exclaim=False)
    y = S.render_take(engine, spk, S.CALIBRATION_TEXT, take, np.random.default_rng(0))
    assert abs(S.spectral_tilt_db(y, SR) - (S.REFERENCE_TILT_DB + spk.timbre_db)) < 0.3
    brighter = S.render_take(engine, spk, S.CALIBRATION_TEXT,
                             S.Take(**{**take.__dict__, "tilt": 6.0}), np.random.default_rng(0))
    assert 3.0 < S.spectral_tilt_db(brighter, SR) - S.spectral_tilt_db(y, SR) < 7.0


@pytest.mark.parametrize("kind, slope", [("white", 0.0), ("pink", -1.0), ("brown", -2.0)])
def test_noise_colours_have_their_spectral_slopes(kind, slope):
    x = S.make_noise(kind, 2**17, np.random.default_rng(0))
    assert abs(np.sqrt(np.mean(x**2)) - 1.0) < 1e-9
    f, p = scipy.signal.welch(x, fs=SR, nperseg=4096)
    band = (f >= 100) & (f <= 6000)
    fitted = np.polyfit(np.log10(f[band]), np.log10(p[band]), 1)[0]
    assert abs(fitted - slope) < 0.1, fitted


def test_prosody_ranges_overlap_between_neighbours():
    """No single parameter separates two emotions that are neighbours on it."""
    fields = ("rate", "pitch", "range", "tilt", "warp", "amplitude", "gap")
    for name in fields:
        spans = sorted((getattr(p, name).lo, getattr(p, name).hi, e) for e, p in S.PROSODY.items())
        for (lo1, hi1, e1), (lo2, hi2, e2) in zip(spans, spans[1:]):
            assert lo2 < hi1, f"{name}: {e1} {lo1}..{hi1} and {e2} {lo2}..{hi2} do not overlap"
