"""core.data.splits: folds partition the rows, keep label shares, and keep speakers apart."""

from collections import Counter

import numpy as np
import pytest

from core.data.corpora import load_manifest
from core.data.splits import holdout, speaker_folds, stratified_folds
from core.errors import ConfigError, CorpusError

ACTORS = ["01", "02", "03", "04", "05", "06"]


@pytest.fixture
def ravdess6(make_tree):
    """6 actors x 8 emotions x 2 statements = 96 RAVDESS clips."""
    files = [f"Actor_{a}/03-01-{e:02d}-01-{s:02d}-01-{a}.wav" for a in ACTORS for e in range(1, 9) for s in (1, 2)]
    return load_manifest(make_tree(files))


def assert_partition(folds, n):
    tests = np.concatenate([te for _, te in folds])
    assert sorted(tests.tolist()) == list(range(n))  # every row is tested exactly once
    for train, test in folds:
        assert not set(train.tolist()) & set(test.tolist())
        assert len(train) + len(test) == n
        assert train.dtype == test.dtype == np.int64


def test_stratified_folds_partition_and_keep_label_shares(ravdess6):
    folds = stratified_folds(ravdess6, k=4, seed=0)
    assert len(folds) == 4
    assert_partition(folds, len(ravdess6))
    for _, test in folds:  # 12 clips per label / 4 folds = 3 per label in every test fold
        assert Counter(ravdess6.rows[i].label for i in test) == {label: 3 for label in ravdess6.labels()}


def test_stratified_folds_on_a_label_list_with_unequal_classes():
    labels = ["a"] * 10 + ["b"] * 20 + ["c"] * 5
    folds = stratified_folds(labels, k=5, seed=3)
    assert_partition(folds, len(labels))
    for _, test in folds:
        assert Counter(labels[i] for i in test) == {"a": 2, "b": 4, "c": 1}


def test_folds_are_reproducible_and_seeded(ravdess6):
    a, b, c = (stratified_folds(ravdess6, k=4, seed=s) for s in (0, 0, 1))
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert not all(np.array_equal(x[1], z[1]) for x, z in zip(a, c))


def test_speaker_folds_never_share_a_speaker(ravdess6):
    folds = speaker_folds(ravdess6, k=3, seed=0)
    assert len(folds) == 3
    assert_partition(folds, len(ravdess6))
    tested = Counter()
    for train, test in folds:
        train_spk = {ravdess6.rows[i].speaker for i in train}
        test_spk = {ravdess6.rows[i].speaker for i in test}
        assert train_spk.isdisjoint(test_spk) and test_spk
        assert train_spk | test_spk == set(ravdess6.speakers())
        tested.update(test_spk)
        # every speaker has all 8 emotions, so each test fold has all of them, equally
        assert len(set(Counter(ravdess6.rows[i].label for i in test).values())) == 1
    assert tested == {f"ravdess-{a}": 1 for a in ACTORS}  # each speaker is tested once


def test_speaker_folds_need_enough_speakers(ravdess6, make_tree):
    with pytest.raises(CorpusError, match="at least 7 speakers; ravdess has 6"):
        speaker_folds(ravdess6, k=7)
    folders = load_manifest(make_tree([f"{lab}/{i}.wav" for lab in ("sad", "angry") for i in range(5)], name="f"))
    with pytest.raises(CorpusError, match="does not name its speakers"):
        speaker_folds(folders, k=5)


def test_bad_k_and_rare_labels():
    with pytest.raises(ConfigError, match="at least 2"):
        stratified_folds(["a", "b"] * 5, k=1)
    with pytest.raises(CorpusError, match="too few for 'a' \\(2\\)"):
        stratified_folds(["a"] * 2 + ["b"] * 10, k=5)


def test_holdout_by_test_speakers(ravdess6):
    train, test = holdout(ravdess6, test_speakers=["ravdess-01", "ravdess-02"])
    assert {ravdess6.rows[i].speaker for i in test} == {"ravdess-01", "ravdess-02"}
    assert {ravdess6.rows[i].speaker for i in train} == {f"ravdess-{a}" for a in ACTORS[2:]}
    assert len(train) + len(test) == len(ravdess6)
    with pytest.raises(CorpusError, match="Unknown test speaker.*ravdess-99"):
        holdout(ravdess6, test_speakers=["ravdess-99"])
    with pytest.raises(CorpusError, match="training"):
        holdout(ravdess6, test_speakers=[f"ravdess-{a}" for a in ACTORS])


def test_holdout_by_speaker_draw_keeps_speakers_apart(ravdess6):
    train, test = holdout(ravdess6, test_size=0.34, seed=0)
    train_spk = {ravdess6.rows[i].speaker for i in train}
    test_spk = {ravdess6.rows[i].speaker for i in test}
    assert train_spk.isdisjoint(test_spk) and len(test_spk) == 3 and len(train_spk) == 3
    again = holdout(ravdess6, test_size=0.34, seed=0)
    assert np.array_equal(again[1], test)
    with pytest.raises(ConfigError, match="test_size"):
        holdout(ravdess6, test_size=1.5)


def test_holdout_uses_the_split_column(make_tree):
    names = ["a", "b", "c", "d", "e"]
    root = make_tree([f"{n}.wav" for n in names])
    splits = ["train", "train", "test", "cue", "TEST"]
    (root / "manifest.csv").write_text(
        "path,label,speaker,split\n"
        + "".join(f"{n}.wav,sad,spk{i},{s}\n" for i, (n, s) in enumerate(zip(names, splits)))
    )
    m = load_manifest(root)
    train, test = holdout(m)
    assert [m.rows[i].path.stem for i in train] == ["a", "b"]
    assert [m.rows[i].path.stem for i in test] == ["c", "e"]  # the "cue" row is in neither
    only_train = m.filter(split="train")
    with pytest.raises(CorpusError, match="needs both 'train' and 'test'"):
        holdout(only_train)


def test_holdout_needs_two_speakers(make_tree):
    folders = load_manifest(make_tree(["sad/1.wav", "angry/2.wav"], name="f"))
    with pytest.raises(CorpusError, match="at least 2 speakers"):
        holdout(folders)
