"""Start S3's models from the public VGGish / YAMNet weights, converted to safetensors by the user.

    from core.models.pretrained import load_pretrained
    report = load_pretrained(model, "vggish", "vggish.safetensors")   # {"loaded": 12, "ignored": 6, ...}

Expected names: torchvggish's (``features.{0,3,6,8,11,13}.*``, ``embeddings.{0,2,4}.*``) and the
YAMNet PyTorch port's (``layer1.fused.*``, ``layer{2..14}.{depthwise_conv,pointwise_conv}.*``,
``classifier.*``), all at width 1. Only ``.safetensors`` files are read (``safetensors.torch.load_file``);
anything else is refused by name, before it is opened, because unpickling can run code.

* ``vggish`` / ``yamnet`` models: the trunk is loaded strictly through their ``load_reference``.
  The reference models' own heads that serwb never has (torchvggish's PCA ``pproc.*``, the port's
  521-class ``classifier.*``) are dropped first and counted as ignored.
* ``fusion``: the file goes into ``vggish_branch`` or ``yamnet_branch``. Every tensor the branch has
  must be in the file with its shape; tensors of the full reference model that the truncated
  branch lacks (VGGish ``embeddings.*``, YAMNet ``layer13``/``layer14``, ``classifier.*``) are
  ignored and counted; any other name is an error.

The public weights exist only at width 1; a model built with another ``width`` is refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from core.errors import CheckpointError, ConfigError
from core.hashing import sha256_file
from core.models.fusion import BRANCHES

#: Which branches each registry model can take, and where they go (None: the model itself).
TARGETS: dict[str, dict[str, str | None]] = {
    "vggish": {"vggish": None},
    "yamnet": {"yamnet": None},
    "fusion": {"vggish": "vggish_branch", "yamnet": "yamnet_branch"},
}
#: Tensors of the reference checkpoints that belong to no serwb model (ignored wherever they appear).
REFERENCE_EXTRAS: dict[str, frozenset[str]] = {
    "vggish": frozenset({"pproc.pca_eigen_vectors", "pproc.pca_means"}),  # torchvggish Postprocessor
    "yamnet": frozenset({"classifier.weight", "classifier.bias"}),  # the port's 521 AudioSet classes
}
_NAMES = {"vggish": "VGGish (torchvggish names)", "yamnet": "YAMNet (PyTorch-port names)"}


def reference_shapes(branch: str) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the full public model's trunk at width 1 (built on the meta device: no memory)."""
    from core.models.vggish import VGGishTrunk
    from core.models.yamnet import YAMNetTrunk

    with torch.device("meta"):
        trunk = VGGishTrunk(1.0, embeddings=True) if branch == "vggish" else YAMNetTrunk(1.0)
    return {k: tuple(v.shape) for k, v in trunk.state_dict().items()}


def _listed(items: list[str], limit: int = 5) -> str:
    return ", ".join(items[:limit]) + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def _target(model: nn.Module, branch: str) -> tuple[nn.Module, str | None]:
    if branch not in BRANCHES:
        raise ConfigError(f"Pretrained weights are for branch 'vggish' or 'yamnet', not {branch!r}.")
    name = getattr(model, "model_name", None)
    if name not in TARGETS:
        raise ConfigError(
            f"Model '{name}' cannot start from public VGGish/YAMNet weights; only "
            f"{', '.join(TARGETS)} can (vggish and yamnet take their own branch, fusion either)."
        )
    if branch not in TARGETS[name]:
        raise ConfigError(f"Model '{name}' has no {branch} branch; give it {', '.join(TARGETS[name])} weights.")
    attr = TARGETS[name][branch]
    return (model if attr is None else getattr(model, attr)), attr


def _where(model: nn.Module, attr: str | None) -> str:
    return f"model '{model.model_name}'" + (f" ({attr})" if attr else "")


def _check_width(model: nn.Module, attr: str | None, own: Mapping[str, tuple[int, ...]], branch: str,
                 reference: Mapping[str, tuple[int, ...]]) -> None:
    if any(k in reference and shape != reference[k] for k, shape in own.items()):
        width = getattr(model, "config", {}).get("width", "other than 1")
        raise CheckpointError(
            f"The public {branch} weights exist only at width 1, but {_where(model, attr)} was built with "
            f"width={width}. Build it with width=1 (--model-cfg width=1, the default) to start from them."
        )


def _check_suffix(path: Path) -> None:
    """Refuse anything but ``.safetensors`` by its name, without opening it."""
    if path.suffix.lower() != ".safetensors":
        raise CheckpointError(
            f"'{path.name}' is not a .safetensors file; serwb reads pretrained weights only as safetensors and "
            "never unpickles files, because unpickling can run code. If you trust the file, convert it to "
            "safetensors yourself: state = torch.load(path, weights_only=True); "
            "safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, 'weights.safetensors')."
        )


def _read(path: Path) -> dict[str, torch.Tensor]:
    _check_suffix(path)
    if not path.is_file():
        raise CheckpointError(f"No pretrained weights file at '{path}'; check the path.")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(
            f"'{path}' is not a readable safetensors file ({e}); convert the weights again."
        ) from None


def load_pretrained(model: nn.Module, branch: str, path: str | os.PathLike) -> dict:
    """Load public ``branch`` weights from the safetensors file ``path`` into ``model`` (in place).

    Returns a report for the model card: ``{"branch", "path" (absolute), "sha256", "into"
    (the module filled), "loaded" (tensors copied), "ignored" (file tensors the model lacks)}``.
    Raises ``CheckpointError`` for an unsafe or unreadable file, a width other than 1, or names
    and shapes that do not match (the first few are named), ``ConfigError`` for a model that
    has no such branch.
    """

    path = Path(path).expanduser()
    target, attr = _target(model, branch)
    _check_suffix(path)
    shapes_now = {k: tuple(v.shape) for k, v in target.state_dict().items()}
    # The tensors the file fills: a whole model's trunk (not its head), or all of a fusion branch.
    own = {k: shapes_now[k] for k in (model.trunk_keys if attr is None else shapes_now)}
    reference = reference_shapes(branch)
    _check_width(model, attr, own, branch, reference)
    state = _read(path)
    # A whole vggish/yamnet model is loaded strictly; a truncated fusion branch ignores the reference's rest.
    ignorable = REFERENCE_EXTRAS[branch] | (set(reference) - set(own) if attr is not None else set())
    missing = sorted(k for k in own if k not in state)
    unexpected = sorted(k for k in state if k not in own and k not in ignorable)
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {own[k]}"
              for k in own if k in state and tuple(state[k].shape) != own[k]]
    if missing or unexpected or shapes:
        parts = [f"{title}: {_listed(items)}" for title, items in
                 (("missing in the file", missing), ("not in the model", unexpected), ("shapes differ", shapes))
                 if items]
        hint = "Convert the reference weights with their original tensor names"
        if attr is None and branch == "vggish" and any(k.startswith("embeddings.") for k in unexpected):
            hint = "The file holds the embedding head: build vggish with embeddings=true (the default), or use fusion"
        raise CheckpointError(
            f"'{path.name}' does not hold the public {_NAMES[branch]} weights that {_where(model, attr)} needs: "
            f"{'; '.join(parts)}. {hint}."
        )
    ignored = [k for k in state if k not in own]
    if attr is None:
        model.load_reference({k: state[k] for k in own})  # the model's strict loader (checks again)
    else:
        target.load_state_dict({k: state[k] for k in own}, strict=True)
    return {"branch": branch, "path": str(path.resolve()), "sha256": sha256_file(path), "into": attr or "model",
            "loaded": len(own), "ignored": len(ignored)}
