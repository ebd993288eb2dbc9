"""The installed environment against the repository's lock, and a health report of the native stack.

``requirements.lock`` (written by ``make lock``) pins every distribution for every supported Python and platform,
with environment markers. ``drift()`` evaluates those markers for this interpreter and names what is missing, at
another version, or installed but not locked, so a broken upgrade reads as a list of names instead of an
``undefined symbol`` at import time. ``python -m core.environment --sync`` is the Makefile's last install step.
This module imports neither torch nor torchaudio at import time: it must work when they cannot load.
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LOCK = Path(__file__).resolve().parent.parent / "requirements.lock"
# The installer and the project itself are installed around the lock, never from it.
NOT_LOCKED = frozenset({"pip", "serwb"})
FIX = "run `make clean && make test` (or `make app`) to rebuild .venv from requirements.lock"


def read_lock(text: str) -> dict[str, str]:
    """Exact pins of a requirements lock that apply to this interpreter and platform: name -> version."""
    pins: dict[str, str] = {}
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split("#", 1)[0].split(" --hash", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==":
            raise ValueError(f"requirements.lock: '{line}' is not an exact pin; regenerate the lock with `make lock`.")
        pins[canonicalize_name(requirement.name)] = specifiers[0].version
    return pins


def installed() -> dict[str, str]:
    """Every distribution installed in this environment's site-packages: name -> version. Not all of
    ``sys.path``: setuptools (imported by torch's C++ compiler) puts its own vendored copies on it."""
    paths = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    return {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions(path=paths)}


@dataclass(frozen=True)
class Drift:
    """How the installed distributions differ from the lock."""

    missing: dict[str, str] = field(default_factory=dict)  # locked name -> locked version
    different: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (locked, installed)
    extra: dict[str, str] = field(default_factory=dict)  # installed, not locked -> installed version

    @property
    def broken(self) -> bool:
        """A locked distribution is absent or at another version (extras alone do not break the lock)."""
        return bool(self.missing or self.different)

    def lines(self) -> list[str]:
        return ([f"missing: {n}=={v}" for n, v in sorted(self.missing.items())]
                + [f"different: {n} {i} installed, {v} locked" for n, (v, i) in sorted(self.different.items())]
                + [f"not locked: {n}=={v}" for n, v in sorted(self.extra.items())])


def drift(lock: dict[str, str] | None = None, have: dict[str, str] | None = None) -> Drift:
    """Compare ``have`` (default: this interpreter's distributions) with ``lock`` (default: requirements.lock)."""
    lock = read_lock(LOCK.read_text()) if lock is None else lock
    have = installed() if have is None else have
    return Drift(
        missing={n: v for n, v in lock.items() if n not in have},
        different={n: (v, have[n]) for n, v in lock.items() if n in have and have[n] != v},
        extra={n: v for n, v in have.items() if n not in lock and n not in NOT_LOCKED},
    )


def native_stack() -> list[tuple[str, str, bool]]:
    """(component, what was found, ok) for torch, torchaudio's native library and the compute device."""
    rows: list[tuple[str, str, bool]] = []
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any failure to load is the finding
        return [("torch", f"does not import: {e}", False)]
    rows.append(("torch", torch.__version__, True))
    try:
        import torchaudio

        torchaudio.functional.melscale_fbanks(201, 0.0, 8000.0, 8, 16000)  # touches the compiled library
        rows.append(("torchaudio", f"{torchaudio.__version__} (native library loads)", True))
    except Exception as e:  # noqa: BLE001
        rows.append(("torchaudio", f"native library does not load with torch {torch.__version__}: {e}", False))
    if torch.cuda.is_available():
        rows.append(("device", f"cuda ({torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda})", True))
    else:
        rows.append(("device", f"cpu ({torch.get_num_threads()} threads; no CUDA GPU visible)", True))
    return rows


def report() -> tuple[str, bool]:
    """The text of `serwb doctor` and whether everything is as locked and loads."""
    from core import __version__

    lines = [f"serwb {__version__}, Python {sys.version.split()[0]} ({sys.executable})"]
    stack = native_stack()
    lines += [f"{name:<11} {found}" for name, found, _ in stack]
    ok = all(good for _, _, good in stack)
    if LOCK.is_file():
        found = drift()
        if found.broken:
            ok = False
        lines.append(f"lock        {LOCK.name}: " + ("matches" if not found.broken else "DRIFT"))
        lines += [f"  {line}" for line in found.lines()]
    else:
        lines.append("lock        no requirements.lock beside this install (not a source checkout)")
    if not ok:
        lines.append(f"to fix: {FIX}")
    return "\n".join(lines), ok


def _sync() -> int:
    """Uninstall what the lock no longer names, then fail with the list if anything locked is off."""
    found = drift()
    if found.extra:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", *sorted(found.extra)], check=True)
        found = drift()
    if found.broken:
        print("The environment does not match requirements.lock:\n  " + "\n  ".join(found.lines()), file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.environment", description=__doc__.split("\n")[0])
    parser.add_argument("--sync", action="store_true", help="uninstall unlocked distributions, then check the lock")
    args = parser.parse_args(argv)
    if args.sync:
        return _sync()
    text, ok = report()
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
