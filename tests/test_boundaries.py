"""Architecture rules from DESIGN.md that a refactor could silently break."""

import ast
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


UNPICKLERS = {("pickle", "load"), ("pickle", "loads"), ("torch", "load"), ("joblib", "load"), ("dill", "load")}


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            yield node.func.value.id, node.func.attr


def test_nothing_in_the_code_unpickles():
    offenders = []
    for path in list((ROOT / "core").rglob("*.py")) + list((ROOT / "workbench").rglob("*.py")):
        tree = ast.parse(path.read_text())
        offenders += [f"{path.relative_to(ROOT)}: {a}.{b}" for a, b in _calls(tree) if (a, b) in UNPICKLERS]
        offenders += [f"{path.relative_to(ROOT)}: import pickle" for node in ast.walk(tree)
                      if isinstance(node, ast.Import) and any(n.name in ("pickle", "dill") for n in node.names)]
    assert not offenders
    assert ("torch", "load") in set(_calls(ast.parse("import torch\ntorch.load('x')")))  # the check can fire
