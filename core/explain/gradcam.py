"""Grad-CAM (captum ``LayerGradCam``) on the layer(s) a model's ``ModelSpec`` names.

The layer map is laid back onto the input grid by the model's own ``cam_to_grid`` (upsampled
on the device; patch models stitch their patches onto the clip's timeline). For the fusion
model there is one map per branch and their sum: both are gradients of the same logit, so
the raw branch maps share a scale and add.
"""

from __future__ import annotations

import time
from typing import Sequence

import torch
from captum.attr import LayerGradCam

from core.errors import ConfigError
from core.explain.maps import AttributionMap
from core.explain.subject import Subject, model_lock


def layer_grid(subject: Subject, layer_name: str, target: int) -> torch.Tensor:
    """Grad-CAM of one layer laid onto the ``(bands, frames)`` grid (ReLU'd, un-normalised)."""
    model = subject.model
    try:
        layer = model.get_submodule(layer_name)
    except AttributeError:
        raise ConfigError(f"Model '{model.model_name}' has no layer '{layer_name}'. Its Grad-CAM layers are "
                          f"{', '.join(model.spec.cam_layers)}; earlier blocks have names like those.") from None
    x = subject.features[None]
    with model_lock(model):  # captum hooks the shared layer for the duration of the call
        cam = LayerGradCam(model, layer).attribute(x, target=int(target), relu_attributions=True)
    cam = cam.detach().squeeze(1)  # channel dim summed away: (B or B*P, *spatial)
    return model.cam_to_grid(cam, x.shape[-1])[0]


def gradcam(subject: Subject, target: int, layers: Sequence[str] | None = None) -> dict[str, AttributionMap]:
    """``{"gradcam": map}``, plus ``"gradcam-<branch>"`` maps for multi-branch models.

    ``layers`` defaults to the model's ``spec.cam_layers`` (its last conv block, as Grad-CAM
    defines it). Heavily pooled last blocks are coarse (cnn-eca's is 2 bands x frames/32 cells);
    an earlier block trades class specificity for finer time and frequency detail.
    """
    layers = tuple(layers or subject.model.spec.cam_layers)
    if not layers:
        raise ConfigError(f"Model '{subject.model.model_name}' has no convolutional layer for Grad-CAM; "
                          "use occlusion or LIME instead.")
    started = time.perf_counter()
    grids = {name: layer_grid(subject, name, target) for name in layers}
    maps = {}
    if len(layers) > 1:
        for name, grid in grids.items():
            branch = name.split(".")[0].removesuffix("_branch")
            maps[f"gradcam-{branch}"] = subject.make_map(f"gradcam-{branch}", grid, target, {"layer": name}, started)
    total = torch.stack(list(grids.values())).sum(0)
    maps["gradcam"] = subject.make_map("gradcam", total, target, {"layers": list(layers)}, started)
    return maps
