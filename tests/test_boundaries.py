"""Architecture rules from DESIGN.md that a refactor could silently break."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import core

ROOT = Path(__file__).resolve().parents[1]


def test_core_never_imports_streamlit_or_workbench():
    modules = [m.name for m in pkgutil.walk_packages(core.__path__, "core.")]
    assert "core.audio" in modules and "core.features" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('streamlit', 'workbench'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True)


def test_nothing_in_the_code_unpickles():
    offenders = []
    for path in list((ROOT / "core").rglob("*.py")) + list((ROOT / "workbench").rglob("*.py")):
        text = path.read_text()
        if "pickle.load" in text or "torch.load(" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders
