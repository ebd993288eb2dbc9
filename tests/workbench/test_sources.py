"""Where models and clips may come from: SERWB_MODELS listing, data roots, labels of uploaded files."""

import os
from pathlib import Path

import pytest

from core.errors import CorpusError
from workbench import checkpoints, datasets, state

ROOT = Path(__file__).resolve().parents[2]


def test_models_from_the_command_line_are_listed_first_and_bad_folders_stay_visible(tmp_path, monkeypatch):
    single = tmp_path / "single"
    single.mkdir()
    (single / "card.json").write_text("{}")
    many = tmp_path / "many"
    for name in ("a", "b"):
        (many / name).mkdir(parents=True)
        (many / name / "card.json").write_text("{}")
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("SERWB_MODELS", os.pathsep.join(map(str, (single, many, empty))))
    found = list(checkpoints.available())
    assert found[:4] == [str(single), str(many / "a"), str(many / "b"), str(empty)]
    assert any(p.endswith(os.path.join("assets", "models", "cnn-eca")) for p in found)
    assert checkpoints.default(found) == str(single)
    monkeypatch.delenv("SERWB_MODELS")
    assert checkpoints.default(list(checkpoints.available())).endswith("cnn-eca")


def test_data_roots_follow_symlinks_before_checking(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "corpus").mkdir(parents=True)
    (root / "out").symlink_to(tmp_path, target_is_directory=True)
    monkeypatch.setenv(state.DATA_ROOTS_ENV, str(root))
    assert datasets.resolve_folder(str(root / "corpus")) == (root / "corpus").resolve()
    assert datasets.resolve_folder("assets/demo/test") == (ROOT / "assets" / "demo" / "test").resolve()
    for typed in (str(root / "out"), str(root / "corpus" / ".." / ".."), "/", "assets/../core", ""):
        with pytest.raises(CorpusError):
            datasets.resolve_folder(typed)


@pytest.mark.parametrize(("name", "label"), [
    ("demo-01_s00_angry.wav", "angry"), ("Happiness-take2.flac", "happy"), ("clip_neu.wav", "neutral"),
    ("sadness.mp3", "sad"), ("ps-01.wav", None), ("recording.wav", None),
])
def test_labels_of_uploaded_files_come_from_an_emotion_word(name, label):
    assert datasets.label_from_name(name) == label
