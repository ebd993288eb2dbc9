"""The installed environment is the locked one, and drift or a broken torchaudio is reported by name."""

import re
import subprocess
import sys
from pathlib import Path

from core import environment

ROOT = Path(__file__).resolve().parents[1]


def test_installed_distributions_match_the_lock():
    found = environment.drift()
    assert not found.broken, "installed packages differ from requirements.lock:\n" + "\n".join(found.lines())


def test_distributions_put_on_sys_path_by_other_code_are_not_the_environment(tmp_path, monkeypatch):
    """setuptools (imported by torch's C++ compiler) puts its vendored packages on sys.path: not installed."""
    vendored = tmp_path / "packaging-1.0.dist-info"
    vendored.mkdir()
    (vendored / "METADATA").write_text("Metadata-Version: 2.1\nName: packaging\nVersion: 1.0\n")
    (tmp_path / "jaraco_text-4.0.0.dist-info").mkdir()
    (tmp_path / "jaraco_text-4.0.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: jaraco.text\nVersion: 4.0.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    have = environment.installed()
    assert "jaraco-text" not in have and have["packaging"] != "1.0"


def test_the_lock_pins_the_torch_pair_that_loads_together():
    pins = environment.read_lock(environment.LOCK.read_text())
    assert pins["torch"] == "2.11.0" and pins["torchaudio"] == "2.11.0"


def test_drift_names_a_version_change_a_missing_and_an_unlocked_package():
    lock = environment.read_lock(environment.LOCK.read_text())
    have = dict(environment.installed())
    have["torchaudio"] = "2.11.1"
    del have["captum"]
    have["left-over"] = "1.0"
    found = environment.drift(lock, have)
    assert found.broken
    assert found.different == {"torchaudio": ("2.11.0", "2.11.1")}
    assert found.missing == {"captum": lock["captum"]}
    assert found.extra == {"left-over": "1.0"}
    assert "different: torchaudio 2.11.1 installed, 2.11.0 locked" in found.lines()


def test_markers_keep_only_the_pins_for_this_interpreter():
    text = (
        "numpy==1.0 ; python_full_version < '3.0' \\\n    --hash=sha256:00\n"
        "numpy==2.0 ; python_full_version >= '3.0' \\\n    --hash=sha256:11\n"
        "    # via torch\n"
        "colorama==0.4.6 ; sys_platform == 'no-such-platform'\n"
        "Typing_Extensions==4.0\n"
    )
    assert environment.read_lock(text) == {"numpy": "2.0", "typing-extensions": "4.0"}


def test_a_loose_pin_in_the_lock_is_refused():
    try:
        environment.read_lock("torch>=2.11\n")
    except ValueError as e:
        assert "make lock" in str(e)
    else:
        raise AssertionError("a range in the lock must be refused")


def _doctor(*extra_path: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": ":".join([*map(str, extra_path), str(ROOT)]), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "core.cli", "doctor"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_doctor_reports_the_pair_the_device_and_the_lock():
    done = _doctor()
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^torch       2\.11\.0(\+\w+)?$", done.stdout, re.M)
    assert re.search(r"^torchaudio  2\.11\.0(\+\w+)? \(native library loads\)$", done.stdout, re.M)
    assert "device      cpu" in done.stdout or "device      cuda" in done.stdout
    assert "requirements.lock: matches" in done.stdout


def test_doctor_names_a_torchaudio_that_cannot_load_and_says_what_to_do(tmp_path):
    # A torchaudio whose native library fails the way torchaudio 2.11.1 does on torch 2.11.0.
    fake = tmp_path / "torchaudio"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "raise OSError('libtorchaudio.so: undefined symbol: torch_exception_get_what_without_backtrace')\n")
    done = _doctor(tmp_path)
    assert done.returncode == 1
    assert "native library does not load with torch 2.11.0" in done.stdout
    assert "undefined symbol" in done.stdout
    assert "make clean && make test" in done.stdout


def test_version_names_torch_and_torchaudio_without_importing_them():
    done = subprocess.run([sys.executable, "-m", "core.cli", "--version"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0
    assert done.stdout.startswith("serwb ") and "torch 2.11.0" in done.stdout and "torchaudio 2.11.0" in done.stdout
