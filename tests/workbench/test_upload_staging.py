"""Dataset uploads on disk: a set is staged and renamed into place whole, so a server killed (SIGKILL) while writing
one leaves no half set that the next upload of it would read, and the next upload sweeps the staging leftovers;
a name that cannot be a file name is refused with a message, and a path in a name never leaves the upload folder."""

import functools
import multiprocessing
import os
import time
from itertools import count

import numpy as np
import pytest
from wb_helpers import go, start, wav_bytes

from workbench import datasets

CLIPS = 16
KILLS = 10
LABELS = ("angry", "happy", "neutral", "sad")


class Upload:
    """What the Dataset page hands ``uploads_manifest``: a Streamlit ``UploadedFile``'s name and bytes."""

    def __init__(self, name: str, data: bytes):
        self.name, self.data = name, data

    def getvalue(self) -> bytes:
        return self.data


@functools.cache
def clip_set(seed: int) -> dict[str, bytes]:
    """``CLIPS`` one-second noise clips named ``s<seed>-<i>_<label>.wav``, different for every seed."""
    rng = np.random.default_rng(seed)
    return {f"s{seed}-{i:02d}_{LABELS[i % 4]}.wav": wav_bytes(rng.uniform(-0.3, 0.3, 16_000).astype(np.float32))
            for i in range(CLIPS)}


def upload(seed: int):
    return datasets.uploads_manifest([Upload(name, data) for name, data in clip_set(seed).items()])


def upload_forever():
    for seed in count():  # sets already on disk are found, not rewritten: the kill lands in a new one
        upload(seed)


def stored(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (folder / "flat").iterdir()}


def killed_while_staging(root, delay: float) -> None:
    """Run ``upload_forever`` in a forked child and SIGKILL it ``delay`` seconds after it starts writing a new set."""
    before = len(os.listdir(root))
    child = multiprocessing.get_context("fork").Process(target=upload_forever, daemon=True)
    child.start()
    give_up = time.monotonic() + 120  # a forked child that hangs is killed all the same: never wait forever
    while child.is_alive() and len(os.listdir(root)) == before and time.monotonic() < give_up:
        time.sleep(0.0002)
    time.sleep(delay)
    child.kill()
    child.join()


def test_a_server_killed_while_staging_an_upload_leaves_whole_sets_that_the_restart_reads(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "UPLOAD_ROOT", tmp_path)
    sets = [clip_set(seed) for seed in range(KILLS + 2)]  # made before the forks: a child's time goes to writing
    started = time.perf_counter()
    upload(0)
    one_upload = time.perf_counter() - started
    for k in range(KILLS):  # from the start of a write to past its end
        killed_while_staging(tmp_path, delay=k / KILLS * one_upload)
        for folder in tmp_path.iterdir():
            if not folder.name.startswith(datasets.STAGING_PREFIX):  # a set in place is whole
                assert any(stored(folder) == whole for whole in sets), (folder, sorted(stored(folder)))
                assert sorted(p.name for p in (folder / "by-label").rglob("*.wav")) == sorted(stored(folder))

    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(datasets.STAGING_PREFIX)]
    assert leftovers  # some kills landed mid-write
    seeds = len(list(tmp_path.iterdir())) + 1
    for seed in range(seeds):  # the restarted server: every set, whole or half-staged before, reads whole
        manifest = upload(seed)
        assert sorted(r.path.name for r in manifest.rows) == sorted(clip_set(seed))
    stale = time.time() - 2 * datasets.STAGING_TTL_S
    for left in leftovers:
        os.utime(left, (stale, stale))
    upload(seeds)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(datasets.STAGING_PREFIX)]


@pytest.mark.parametrize("name, stored_as, message", [
    ("../../escaped_angry.wav", "escaped_angry.wav", None),
    ("x" * 300 + "_angry.wav", None, "cannot be stored as a file name"),
])
def test_a_name_that_cannot_be_stored_is_refused_and_a_path_never_leaves_the_upload_folder(
        name, stored_as, message, tmp_path, monkeypatch):
    root = tmp_path / "a" / "b" / "uploads"
    monkeypatch.setattr(datasets, "UPLOAD_ROOT", root)
    at = go(start(), "dataset")
    at.radio(key="dataset_source").set_value("uploads").run()
    data = next(iter(clip_set(0).values()))
    at.file_uploader(key="dataset_uploads").set_value([(name, data, "audio/wav")]).run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    if message:
        assert message in errors and "Rename it" in errors
    else:
        assert not errors
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.wav"))
    assert all(p.startswith("a/b/uploads/") for p in written), written
    assert [p.rsplit("/", 1)[1] for p in written] == ([stored_as] * 2 if stored_as else [])  # flat/ and by-label/
    assert not list(root.glob(f"{datasets.STAGING_PREFIX}*"))  # a refused set leaves no staging folder
