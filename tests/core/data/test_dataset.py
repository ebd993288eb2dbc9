"""core.data.dataset: a real corpus tree becomes labelled, fixed-length features."""

import numpy as np
import pytest
import soundfile as sf
import torch

from core.audio import fix_length, load_audio
from core.data.corpora import load_manifest
from core.data.dataset import ClipDataset, labelled_features
from core.errors import AudioError, CorpusError
from core.features import PRESETS, log_mel

SR = 16_000


@pytest.fixture
def ravdess(tmp_path):
    rng = np.random.default_rng(0)
    names = {"03-01-05-01-01-01-01.wav": 2.5, "03-01-01-01-01-01-02.wav": 4.0, "03-01-04-01-01-01-03.wav": 1.0}
    for name, seconds in names.items():
        actor = tmp_path / f"Actor_{name[-6:-4]}"
        actor.mkdir(exist_ok=True)
        sf.write(actor / name, (0.1 * rng.standard_normal(int(seconds * SR))).astype(np.float32), SR)
    return load_manifest(tmp_path)


def test_features_are_labelled_and_match_the_front_end(ravdess):
    x, y, labels = labelled_features(ravdess, PRESETS["stft-v8"], seconds=3.0, batch_size=2, progress=False)
    assert labels == ["angry", "neutral", "sad"]
    assert x.shape == (3, 64, 301)
    assert [labels[i] for i in y] == [row.label for row in ravdess.rows]
    for i, row in enumerate(ravdess.rows):
        wave = fix_length(load_audio(row.path).wave, 3 * SR)
        torch.testing.assert_close(x[i], log_mel(wave, PRESETS["stft-v8"]))


def test_a_fixed_label_order_is_kept_and_foreign_labels_are_refused(ravdess):
    ds = ClipDataset(ravdess, ["sad", "neutral", "angry", "happy"])
    assert ds[0][1] == ds.labels.index(ravdess.rows[0].label)
    with pytest.raises(CorpusError, match="not in the model's labels"):
        ClipDataset(ravdess, ["happy"])
    with pytest.raises(CorpusError, match="no clips"):
        ClipDataset(ravdess.filter(label="happy"))


def test_an_unreadable_file_in_a_corpus_is_named_with_its_path(ravdess):
    broken = ravdess.rows[1].path
    broken.write_bytes(b"RIFF\x00\x00")  # CREMA-D ships such a file
    ds = ClipDataset(ravdess)
    with pytest.raises(AudioError, match=f"file: {broken}.*Fix or remove that file"):
        ds[1]
    assert ds[0][0].shape == (3 * SR,)  # the others still load
