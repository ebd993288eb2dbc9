"""Compiled forwards (AOTInductor) for the many no-grad forwards of LIME, KernelSHAP and plain occlusion.

Inductor nearly halves the paper-size CNN-ECA's CPU forward but takes tens of seconds to compile it, so a model
is compiled only where that pays (models of at least ``PAYS_FROM_PARAMETERS`` parameters, the paper-size ones: the
demo models' forwards take a few ms; ``SERWB_COMPILE=always`` compiles every model, ``off`` none), once per
(weights, input shape), in the background: no call waits for it, every call runs eagerly until it is ready.

We compile ahead of time (``torch.export`` + ``torch._inductor.aoti_compile_and_package``) in a child process,
rather than with ``torch.compile``'s just-in-time dynamo in the server: the package is a file, written
atomically under ``cache_dir()`` and named by a hash of the weights, the shape and the torch version, so a later
process loads it in milliseconds; a loaded package has no guards, so it never recompiles and may be called from
any thread; and exporting in the server's own process stalls the other sessions' forwards (seen: dynamo compiled
in one thread and called from another re-traced and crashed; an export beside 8 sessions' forwards hung them).
The child rebuilds the model from its registered name, settings and weights (safetensors + JSON), so no hook of
Grad-CAM can reach it; smaller batches are zero-padded to the compiled shape.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

PAYS_FROM_PARAMETERS = 1_000_000
#: A staging folder in the cache this old belongs to a killed compile (the child's timeout is an hour).
STALE_STAGING_S = 2 * 3600
MODES = ("auto", "always", "off")
log = logging.getLogger(__name__)


def mode() -> str:
    """``SERWB_COMPILE``: auto (compile where it pays), always, or off."""
    value = os.environ.get("SERWB_COMPILE", "auto")
    return value if value in MODES else "auto"


def cache_dir() -> Path:
    """Where compiled packages are kept between processes: ``$SERWB_CACHE/compiled`` (default ``~/.cache/serwb``)."""
    return Path(os.environ.get("SERWB_CACHE") or Path.home() / ".cache" / "serwb") / "compiled"


def package_name(model: nn.Module, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> str:
    """The file a compiled forward is kept in: the weights, the class, the shape, the device and torch."""
    digest = hashlib.sha256(f"{type(model).__qualname__}|{shape}|{dtype}|{device.type}|{torch.__version__}".encode())
    for key, tensor in model.state_dict().items():
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return f"{digest.hexdigest()[:32]}.pt2"


@dataclass(eq=False)
class Compiled:
    """One compiled copy: ready once its first forward (the compile) has run."""

    shape: tuple[int, ...]
    ready: threading.Event = field(default_factory=threading.Event)
    failed: str | None = None
    seconds: float | None = None  # what compiling (or loading a cached package) took
    cached: bool = False  # loaded from a package an earlier run compiled
    forward: object = None
    lock: threading.Lock = field(default_factory=threading.Lock)


_COPIES: "weakref.WeakKeyDictionary[nn.Module, dict[tuple, Compiled]]" = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def _compile_in_child(model: nn.Module, shape: tuple[int, ...], device: torch.device, dtype: torch.dtype,
                      package: Path) -> None:
    """Write ``model`` as its registered name, settings and weights, and compile it in a child process."""
    from safetensors.torch import save_file

    name, config = getattr(model, "model_name", None), getattr(model, "config", None)
    if name is None or config is None:
        raise ValueError("only models made by core.models.build can be rebuilt in a compiler process")
    with tempfile.TemporaryDirectory(prefix=".staging-", dir=package.parent) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, f"{tmp}/weights.safetensors")
        Path(tmp, "model.json").write_text(json.dumps({"name": name, "num_classes": model.num_classes,
                                                       "config": config}, default=list))
        staged = Path(tmp, "package.pt2")
        command = [sys.executable, "-m", "core.explain.compiled", tmp, str(staged), ",".join(map(str, shape)),
                   device.type, str(dtype).removeprefix("torch.")]
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600,
                              cwd=Path(__file__).resolve().parents[2])
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "compiler failed")
        os.replace(staged, package)  # a reader never sees half a package


def sweep_staging(folder: Path, max_age_s: float = STALE_STAGING_S) -> None:
    """Remove the staging folders that killed compiles left in the cache ``folder``.

    Packages are files renamed into place whole, so every folder here is a compile's staging: never read as a
    package, and removed once older than any live compile.
    """
    cutoff = time.time() - max_age_s
    for left in folder.iterdir() if folder.is_dir() else ():
        try:
            if left.is_dir() and not left.is_symlink() and left.stat().st_mtime < cutoff:
                shutil.rmtree(left)
        except OSError:  # removed by another process meanwhile
            continue


def _compile(model: nn.Module, entry: Compiled, device: torch.device, dtype: torch.dtype) -> None:
    started = time.perf_counter()
    try:
        from torch._inductor import aoti_load_package

        path = cache_dir() / package_name(model, entry.shape, dtype, device)
        entry.cached = path.is_file()
        if not entry.cached:
            path.parent.mkdir(parents=True, exist_ok=True)
            sweep_staging(path.parent)
            _compile_in_child(model, entry.shape, device, dtype, path)
        entry.forward = aoti_load_package(str(path))
        entry.seconds = time.perf_counter() - started
    except Exception as error:  # a compiler missing or failing: stay eager, say why once
        entry.failed = f"{type(error).__name__}: {error}"
        log.warning("compiling failed, forwards stay eager: %s", entry.failed)
    finally:
        entry.ready.set()


def request(model: nn.Module, shape: tuple[int, ...], *, device: torch.device | None = None,
            dtype: torch.dtype = torch.float32) -> Compiled:
    """The compiled forward of ``model`` for inputs of ``shape``, compiled in the background if new."""
    with _GUARD:
        copies = _COPIES.setdefault(model, {})
        entry = copies.get(tuple(shape))
        if entry is not None:
            return entry
        entry = copies[tuple(shape)] = Compiled(tuple(shape))
    device = device or next(model.parameters()).device
    threading.Thread(target=_compile, args=(model, entry, device, dtype), name="serwb-compile", daemon=True).start()
    return entry


def compiled_for(model: nn.Module, shape: tuple[int, ...]) -> Compiled | None:
    entry = _COPIES.get(model, {}).get(tuple(shape))
    return entry if entry is not None and entry.ready.is_set() and entry.forward is not None else None


def forward(model: nn.Module, batch: torch.Tensor, rows: int) -> torch.Tensor:
    """``model(batch)`` without gradients for a batch of at most ``rows`` inputs: through the compiled copy for
    ``(rows, *batch.shape[1:])`` when it is ready (the batch zero-padded to ``rows``), else eagerly; a full batch
    of a model where compiling pays asks for it."""
    shape = (rows, *batch.shape[1:])
    entry = compiled_for(model, shape) if mode() != "off" else None
    if entry is not None:
        padded = batch if batch.shape[0] == rows else torch.cat(
            [batch, batch.new_zeros(rows - batch.shape[0], *batch.shape[1:])])
        with entry.lock, torch.no_grad():
            return entry.forward(padded.contiguous())[: batch.shape[0]]
    if batch.shape[0] == rows and tuple(shape) not in _COPIES.get(model, {}) and pays(model):
        request(model, shape, device=batch.device, dtype=batch.dtype)
    with torch.no_grad():
        return model(batch)


def pays(model: nn.Module) -> bool:
    """Whether to compile ``model`` (``SERWB_COMPILE``, else its size)."""
    if mode() != "auto":
        return mode() == "always"
    return sum(p.numel() for p in model.parameters()) >= PAYS_FROM_PARAMETERS


def _child(folder: str, package: str, shape: str, device: str, dtype: str) -> None:
    """The compiler process: rebuild the model, export it for ``shape`` and compile it to ``package``."""
    from safetensors.torch import load_file
    from torch._inductor import aoti_compile_and_package

    from core.models import build

    spec = json.loads(Path(folder, "model.json").read_text())
    model = build(spec["name"], spec["num_classes"], **spec["config"])
    model.load_state_dict(load_file(f"{folder}/weights.safetensors"), strict=True)
    model = model.to(device).eval()
    example = torch.zeros(tuple(int(n) for n in shape.split(",")), device=device, dtype=getattr(torch, dtype))
    with torch.no_grad():
        program = torch.export.export(model, (example,))
    aoti_compile_and_package(program, package_path=package)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Compile a model for core.explain.compiled (run by it).")
    for arg in ("folder", "package", "shape", "device", "dtype"):
        parser.add_argument(arg)
    _child(**vars(parser.parse_args()))
