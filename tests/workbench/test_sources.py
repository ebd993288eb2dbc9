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


class Upload:
    """What Streamlit's UploadedFile offers the Dataset page: a name and the bytes."""

    def __init__(self, path: Path):
        self.name, self._data = path.name, path.read_bytes()

    def getvalue(self) -> bytes:
        return self._data


def test_uploaded_sets_are_staged_once_and_stale_sets_are_swept(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "UPLOAD_ROOT", tmp_path)
    stale, recent = tmp_path / "stale", tmp_path / "recent"
    for folder in (stale, recent):
        folder.mkdir()
    day_ago = os.stat(stale).st_mtime - datasets.UPLOAD_TTL_S - 60
    os.utime(stale, (day_ago, day_ago))
    clips = sorted((ROOT / "assets" / "demo" / "test").rglob("*.wav"))[:4]
    manifest = datasets.uploads_manifest([Upload(p) for p in clips])
    assert len(manifest.rows) == 4 and all(row.label for row in manifest.rows)
    assert not stale.exists() and recent.exists()
    again = datasets.uploads_manifest([Upload(p) for p in reversed(clips)])
    assert again.root == manifest.root  # the same set, in any order, is written once
    with pytest.raises(CorpusError, match="Upload some clips"):
        datasets.uploads_manifest([])
