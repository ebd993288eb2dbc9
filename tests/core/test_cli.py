"""The serwb console script: help, version, and user errors as one clear line with exit 1."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from core import __version__
from core.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_console_script_is_installed_and_lists_commands():
    out = subprocess.run([Path(sys.executable).parent / "serwb", "--help"], capture_output=True, text=True, check=True)
    for command in ("corpus", "app"):
        assert command in out.stdout
    version = subprocess.run([sys.executable, "-m", "core.cli", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert version.stdout.startswith(f"serwb {__version__} (torch ")


def test_corpus_inspect_prints_counts(tmp_path, capsys):
    for name in ("03-01-05-01-01-01-01.wav", "03-01-01-01-01-01-02.wav"):
        path = tmp_path / "Actor_01" / name
        path.parent.mkdir(exist_ok=True)
        sf.write(path, np.zeros(160, dtype=np.float32), 16_000)
    assert main(["corpus", "inspect", str(tmp_path)]) == 0
    out = capsys.readouterr().out.lower()
    assert "ravdess" in out and "angry" in out and "neutral" in out


def test_corpus_inspect_of_an_empty_folder_is_one_clear_line(tmp_path, capsys):
    assert main(["corpus", "inspect", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("serwb: ") and "Traceback" not in err and len(err.strip().splitlines()) >= 1


def test_demo_corpus_command_writes_a_manifest(tmp_path, capsys):
    assert main(["corpus", "demo", "--out", str(tmp_path / "demo"), "--size", "small", "--seed", "3"]) == 0
    assert (tmp_path / "demo" / "manifest.csv").is_file()
    assert main(["corpus", "inspect", str(tmp_path / "demo")]) == 0
    assert "serwb-demo" in capsys.readouterr().out
