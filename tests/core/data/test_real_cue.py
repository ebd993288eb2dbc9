"""The planted-cue set from real recordings (core.data.real_cue), on a tiny corpus made here with the real naming."""

import csv
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from core.data import real_cue
from core.data.corpora import load_manifest
from core.errors import ConfigError, CorpusError

SR = 16_000
WORDS = ("nie", "oddaj", "podaj", "stop", "tak", "trzymaj")  # the real corpus's six words
REPS = (1, 2, 3)
#: tone amplitude per emotion code: the emotional words are much louder / quieter than the neutral ones
AMPLITUDE = {"a": 0.6, "s": 0.05, "n": 0.2}
FLOOR = 0.002  # background noise RMS of every source file


def _source(code: str, w: int, rep: int, rng) -> np.ndarray:
    """0.2 s background + a 0.5 s tone burst (its own frequency per file) + 0.15 s background."""
    n_lead, n_tone, n_trail = int(0.2 * SR), int(0.5 * SR) + 37 * w + 11 * rep, int(0.15 * SR)
    x = FLOOR * rng.standard_normal(n_lead + n_tone + n_trail)
    f = 200.0 + 90 * w + 30 * rep + {"a": 0, "s": 15, "n": 7}[code]
    t = np.arange(n_tone) / SR
    x[n_lead:n_lead + n_tone] += AMPLITUDE[code] * np.sin(2 * np.pi * f * t) * np.hanning(n_tone) ** 0.2
    return x


def _write_corpus(root, words=WORDS):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for code in "asn":
        for w, word in enumerate(words):
            for rep in REPS:
                sf.write(root / f"m1.{code}_{word}_{rep}.flac", _source(code, w, rep, rng).astype(np.float32), SR,
                         format="FLAC", subtype="PCM_16")
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return _write_corpus(tmp_path_factory.mktemp("polish"))


def _build(corpus, out, seed=0, per_emotion=3):
    return real_cue.build(corpus, out, speakers=("polish-m1",), per_emotion=per_emotion, seed=seed)


def _rows(manifest):
    with manifest.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def built(corpus, tmp_path_factory):
    manifest = _build(corpus, tmp_path_factory.mktemp("cue") / "polish-cue")
    return manifest, _rows(manifest)


@pytest.fixture(scope="module")
def big(corpus, tmp_path_factory):
    """Every angry and fearful clip of the tiny corpus planted once: 36 clips, enough to see the layouts vary."""
    manifest = _build(corpus, tmp_path_factory.mktemp("cue-big") / "polish-cue", per_emotion=len(WORDS) * len(REPS))
    return manifest, _rows(manifest)


def _list(value, cast=str):
    return [cast(v) for v in value.split(";")] if value else []


def _words(r):
    """The clip's words in order: (source name, start sample, end sample); the planted word among them."""
    names = _list(r["left_sources"]) + [r["cue_source"]] + _list(r["right_sources"])
    starts, ends = _list(r["word_start_samples"], int), _list(r["word_end_samples"], int)
    assert len(names) == len(starts) == len(ends) == int(r["n_left"]) + 1 + int(r["n_right"])
    return list(zip(names, starts, ends))


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x))))


def _active_rms(x, frame=320):
    """Independent of real_cue.active_rms: RMS over the 20 ms frames louder than the median frame."""
    n = len(x) // frame
    frames = x[: n * frame].reshape(n, frame)
    r = np.sqrt((frames**2).mean(axis=1))
    return _rms(frames[r > np.median(r)])


def _floor(x, frame=320):
    """10th percentile of the 20 ms frame RMS: the background level."""
    n = len(x) // frame
    return float(np.percentile(np.sqrt((x[: n * frame].reshape(n, frame) ** 2).mean(axis=1)), 10))


def _read(path):
    x, sr = sf.read(path, dtype="float64")
    assert sr == SR
    return x


def test_one_clip_per_planted_word_with_the_real_naming(built):
    manifest, rows = built
    assert len(rows) == 6  # 1 speaker x 2 emotions x 3
    assert sorted(r["label"] for r in rows) == ["angry"] * 3 + ["fearful"] * 3
    for emotion in ("angry", "fearful"):
        mine = [r for r in rows if r["label"] == emotion]
        assert len({r["word"] for r in mine}) == 3  # different words while there are enough
    for r in rows:
        assert r["path"] == f"m1_cue_{r['label']}_{r['word']}_{r['repetition']}.flac"
        assert r["cue_source"] == f"m1.{'a' if r['label'] == 'angry' else 's'}_{r['word']}_{r['repetition']}.flac"
        assert (manifest.parent / r["path"]).is_file()
        info = sf.info(manifest.parent / r["path"])
        assert (info.samplerate, info.channels, info.format, info.subtype) == (SR, 1, "FLAC", "PCM_16")
    readme = (manifest.parent / "README.md").read_text(encoding="utf-8")
    assert "10.34808/h46c-hb44" in readme and "CC BY" in readme and "python -m core.data.real_cue" in readme


def test_neighbours_are_neutral_words_of_the_same_speaker_and_other_words(built, big):
    for rows in (built[1], big[1]):
        for r in rows:
            n_left, n_right = int(r["n_left"]), int(r["n_right"])
            assert n_left in (1, 2) and n_right in (1, 2)
            left, right = _list(r["left_sources"]), _list(r["right_sources"])
            assert (len(left), len(right)) == (n_left, n_right)
            words = []
            for name in left + right:
                assert name.startswith("m1.n_"), name  # same speaker, neutral
                words.append(name.split("_")[1])
            assert _list(r["left_words"]) + _list(r["right_words"]) == words
            assert r["word"] not in words and len(set(words)) == len(words)  # pairwise different, none is E's
    # every layout of 1-2 neutral words on each side occurs
    assert {(int(r["n_left"]), int(r["n_right"])) for r in big[1]} == {(1, 1), (1, 2), (2, 1), (2, 2)}


def test_planted_word_position_varies(big):
    _, rows = big
    centres = np.array([(float(r["cue_start"]) + float(r["cue_end"])) / 2 / float(r["duration"]) for r in rows])
    assert centres == pytest.approx([real_cue.relative_centre(r) for r in rows])
    assert (centres < 0.4).any() and (centres > 0.6).any(), centres  # early and late cues both occur
    assert centres.max() - centres.min() > 0.2
    assert 0.1 < centres.min() and centres.max() < 0.9  # never at an edge: neutral speech on both sides
    for r in rows:
        assert int(r["left_end_sample"]) < int(r["cue_start_sample"]) < int(r["cue_end_sample"]) \
            < int(r["right_start_sample"]) < round(float(r["duration"]) * SR)
    readme = (big[0].parent / "README.md").read_text(encoding="utf-8")
    assert "varies" in readme and "centre" in readme


def test_cue_span_holds_the_emotional_samples_scaled(built, corpus):
    manifest, rows = built
    for r in rows:
        y = _read(manifest.parent / r["path"])
        start, end = int(r["cue_start_sample"]), int(r["cue_end_sample"])
        assert float(r["cue_start"]) * SR == pytest.approx(start, abs=1e-6)
        assert float(r["cue_end"]) * SR == pytest.approx(end, abs=1e-6)
        src = _read(corpus / r["cue_source"])
        assert end - start == len(src)
        part = y[start:end]
        gain = float(part @ src / (src @ src))  # least-squares scale of the source onto the span
        expected = 10 ** ((float(r["cue_gain_db"]) + float(r["clip_gain_db"])) / 20)
        assert gain == pytest.approx(expected, rel=1e-3)
        assert np.abs(part - gain * src).max() < 3e-4  # only 16-bit rounding is left
        # one sample off does not fit: the span is where E really is
        shifted = y[start + 1:end + 1]
        assert np.abs(shifted - gain * src).max() > 1e-2
        # and the neutral words are where the manifest says, unscaled but for the clip gain, from the first
        # sample to the last
        clip_gain = 10 ** (float(r["clip_gain_db"]) / 20)
        words = _words(r)
        k = int(r["n_left"])
        assert words[k] == (r["cue_source"], start, end)
        assert words[0][1] == 0 and words[-1][2] == len(y) == round(float(r["duration"]) * SR)
        assert int(r["left_end_sample"]) == words[k - 1][2] and int(r["right_start_sample"]) == words[k + 1][1]
        for i, (name, a, b) in enumerate(words):
            if i == k:
                continue
            src = _read(corpus / name)
            assert b - a == len(src)
            assert np.abs(y[a:b] - clip_gain * src).max() < 3e-4


def test_planted_word_is_level_matched_to_its_neighbours(built, corpus):
    manifest, rows = built
    for r in rows:
        src = _read(corpus / r["cue_source"])
        words = _words(r)
        k = int(r["n_left"])
        sources = [_read(corpus / name) for i, (name, _, _) in enumerate(words) if i != k]
        assert abs(_active_rms(src) / np.mean([_active_rms(x) for x in sources]) - 1) > 0.5  # not matched before
        y = _read(manifest.parent / r["path"])
        planted = _active_rms(y[int(r["cue_start_sample"]):int(r["cue_end_sample"])])
        neighbours = np.mean([_active_rms(y[a:b]) for i, (_, a, b) in enumerate(words) if i != k])
        assert planted == pytest.approx(neighbours, rel=0.01)
        assert real_cue.active_rms(src) == pytest.approx(_active_rms(src), rel=1e-9)


def test_pauses_are_short_and_at_the_noise_floor(built, big):
    for manifest, rows in (built, big):
        for r in rows:
            y = _read(manifest.parent / r["path"])
            words = _words(r)
            pauses_s = _list(r["pauses_s"], float)
            assert len(pauses_s) == len(words) - 1  # a pause between every two words
            speech = _active_rms(y)
            for i, secs in enumerate(pauses_s):
                pause = y[words[i][2]:words[i + 1][1]]
                assert 0.15 <= len(pause) / SR <= 0.30
                assert secs == pytest.approx(len(pause) / SR)
                assert _rms(pause) < 0.05 * speech  # far quieter than speech
                # at the background level of the two recordings it joins (their quietest frames), not silence
                floors = [_floor(y[words[i][1]:words[i][2]]), _floor(y[words[i + 1][1]:words[i + 1][2]])]
                assert 0.8 * min(floors) < _rms(pause) < 1.25 * max(floors)
    # the pause lengths are drawn, not fixed
    assert len({p for r in built[1] for p in _list(r["pauses_s"])}) > 3


def test_same_seed_same_files_other_seed_other_choices(built, corpus, tmp_path):
    manifest, rows = built
    again = _build(corpus, tmp_path / "again")
    assert again.read_text(encoding="utf-8") == manifest.read_text(encoding="utf-8")
    for r in rows:
        assert (again.parent / r["path"]).read_bytes() == (manifest.parent / r["path"]).read_bytes()
    other = _build(corpus, tmp_path / "other", seed=1)
    with other.open(newline="", encoding="utf-8") as f:
        other_rows = list(csv.DictReader(f))
    key = ("cue_source", "left_sources", "right_sources", "pauses_s")
    assert [tuple(r[k] for k in key) for r in other_rows] != [tuple(r[k] for k in key) for r in rows]


def test_rebuild_leaves_no_stale_clip(corpus, tmp_path):
    out = tmp_path / "cue"
    _build(corpus, out, per_emotion=3)
    _build(corpus, out, per_emotion=1, seed=2)
    names = sorted(p.name for p in out.glob("*.flac"))
    assert len(names) == 2 and names == sorted(r.path.name for r in load_manifest(out).rows)


def test_manifest_loads_as_a_cue_set(built):
    manifest, rows = built
    m = load_manifest(manifest.parent)
    assert m.corpus == "polish-cue" and len(m) == len(rows)
    assert m.speakers() == ["polish-m1"]
    for row in m.rows:
        assert row.extra["split"] == "cue"
        assert float(row.extra["cue_end"]) > float(row.extra["cue_start"]) > 0
        assert row.extra["cue_source"] and row.extra["left_sources"] and row.extra["right_sources"]
    assert len(m.filter(split="cue")) == len(rows)
    # word_spans reads back every word's span and the planted word's place, as the files hold them
    by_name = {r["path"]: r for r in rows}
    for row in m.rows:
        spans, cue = real_cue.word_spans(row)
        r = by_name[row.path.name]
        assert cue == int(r["n_left"]) and spans[cue] == (int(r["cue_start_sample"]), int(r["cue_end_sample"]))
        assert [(a, b) for _, a, b in _words(r)] == spans
    assert real_cue.word_spans(replace(m.rows[0], extra={"cue_start": "1.0", "cue_end": "2.0"})) is None


def test_bad_requests_say_what_to_do(corpus, tmp_path):
    with pytest.raises(ConfigError, match="at most 18"):
        _build(corpus, tmp_path / "a", per_emotion=19)
    with pytest.raises(ConfigError, match="polish-m1"):
        real_cue.build(corpus, tmp_path / "b", speakers=("m1",))
    with pytest.raises(ConfigError, match="seed"):
        _build(corpus, tmp_path / "c", seed=-1)
    # four neutral words other than E's are needed (up to two on each side): say so rather than repeat a word
    few = _write_corpus(tmp_path / "few", words=WORDS[:4])
    with pytest.raises(CorpusError, match="needs 4"):
        _build(few, tmp_path / "d", per_emotion=1)
