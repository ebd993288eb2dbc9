"""Class activation maps of a conv layer: Grad-CAM, Grad-CAM++ and HiResCAM, on the layer(s) a model's
``ModelSpec`` names.

Grad-CAM weights each channel by its mean gradient (captum ``LayerGradCam``); Grad-CAM++ by its positive
gradients weighted with the second/third-order terms of Chattopadhay et al. (2018); HiResCAM multiplies gradient
and activation element-wise before summing over channels (Draelos & Carin 2020; captum
``LayerGradientXActivation``), so it shows what the logit actually sums. Each layer map is ReLU'd and laid back
onto the input grid by the model's own ``cam_to_grid`` (upsampled on the device; patch models stitch their patches
onto the clip's timeline). For the fusion model Grad-CAM also gives one map per branch; all three give their sum:
both branches are gradients of the same logit, so the raw branch maps share a scale and add.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch
from captum.attr import LayerActivation, LayerGradCam, LayerGradientXActivation

from core.errors import ConfigError
from core.explain.maps import AttributionMap
from core.explain.registry import MethodSpec, register_method, setting
from core.explain.subject import Subject, model_lock


@dataclass(frozen=True)
class GradCamSettings:
    layer: str | None = setting(None, label="Layer", widget="layer",
                                help="Earlier blocks: finer time and frequency detail; later ones: more class-specific. "
                                     "None: the model's own Grad-CAM layer(s), its last conv block.")


CAMS = ("gradcam", "gradcampp", "hirescam")
EPS = 1e-6  # Grad-CAM++'s guard against 0/0 where a gradient vanishes (pytorch-grad-cam's value)


def _layer_cam(model, layer, x: torch.Tensor, target: int, kind: str) -> torch.Tensor:
    """One layer's channel-reduced, ReLU'd map ``(B or B*P, *spatial)``; call with the model's lock held."""
    if kind == "gradcam":
        return LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True).squeeze(1)
    if kind == "hirescam":
        product = LayerGradientXActivation(model, layer).attribute(x, target=target)
        return product.sum(1).clamp_min(0)
    grads = LayerGradientXActivation(model, layer, multiply_by_inputs=False).attribute(x, target=target)
    acts = LayerActivation(model, layer).attribute(x)
    spatial = tuple(range(2, grads.dim()))
    g2, g3 = grads**2, grads**3
    total = acts.sum(dim=spatial, keepdim=True)
    alpha = torch.where(grads != 0, g2 / (2 * g2 + total * g3 + EPS), torch.zeros_like(grads))
    weights = (grads.clamp_min(0) * alpha).sum(dim=spatial, keepdim=True)
    return (weights * acts).sum(1).clamp_min(0)


def layer_grid(subject: Subject, layer_name: str, target: int, kind: str = "gradcam") -> torch.Tensor:
    """A class activation map (``kind``: one of ``CAMS``) of one layer on the ``(bands, frames)`` grid (ReLU'd,
    un-normalised)."""
    model = subject.model
    try:
        layer = model.get_submodule(layer_name)
    except AttributeError:
        raise ConfigError(f"Model '{model.model_name}' has no layer '{layer_name}'. Its Grad-CAM layers are "
                          f"{', '.join(model.spec.cam_layers)}; earlier blocks have names like those.") from None
    x = subject.features[None]
    with model_lock(model):  # captum hooks the shared layer for the duration of the call
        cam = _layer_cam(model, layer, x, int(target), kind).detach()  # channels reduced: (B or B*P, *spatial)
    return model.cam_to_grid(cam, x.shape[-1])[0]


def _layers(subject: Subject, settings: GradCamSettings) -> tuple[str, ...]:
    layers = (settings.layer,) if settings.layer else tuple(subject.model.spec.cam_layers)
    if not layers:
        raise ConfigError(f"Model '{subject.model.model_name}' has no convolutional layer for a class activation "
                          "map; use occlusion or LIME instead.")
    return layers


def _cost(subject: Subject, settings: GradCamSettings) -> int:
    return 2 * (1 if settings.layer else len(subject.model.spec.cam_layers))


@register_method(MethodSpec(
    name="gradcam", title="Grad-CAM", settings=GradCamSettings, needs=("cam_layers",), default=True,
    cost=_cost,
    description="Gradient-weighted class activation map of a conv layer, upsampled onto the spectrogram.",
    reference="Selvaraju et al. 2017; captum LayerGradCam",
))
def gradcam(subject: Subject, target: int, settings: GradCamSettings = GradCamSettings(),
            progress: Callable[[float], None] | None = None) -> dict[str, AttributionMap]:
    """``{"gradcam": map}``, plus ``"gradcam-<branch>"`` maps for multi-branch models.

    ``settings.layer`` defaults to the model's ``spec.cam_layers`` (its last conv block, as Grad-CAM
    defines it). Heavily pooled last blocks are coarse (cnn-eca's is 2 bands x frames/32 cells);
    an earlier block trades class specificity for finer time and frequency detail.
    """
    layers = _layers(subject, settings)
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


def _summed(kind: str, subject: Subject, target: int, settings: GradCamSettings) -> dict[str, AttributionMap]:
    started = time.perf_counter()
    layers = _layers(subject, settings)
    total = torch.stack([layer_grid(subject, name, target, kind) for name in layers]).sum(0)
    return {kind: subject.make_map(kind, total, target, {"layers": list(layers)}, started)}


@register_method(MethodSpec(
    name="gradcampp", title="Grad-CAM++", settings=GradCamSettings, needs=("cam_layers",),
    cost=lambda subject, settings: 1 + _cost(subject, settings),
    description="Grad-CAM with each channel weighted by its positive gradients (higher-order terms), for "
                "several occurrences of a cue.",
    reference="Chattopadhay et al. 2018; captum LayerGradientXActivation + LayerActivation",
))
def gradcam_pp(subject: Subject, target: int, settings: GradCamSettings = GradCamSettings(),
               progress: Callable[[float], None] | None = None) -> dict[str, AttributionMap]:
    return _summed("gradcampp", subject, target, settings)


@register_method(MethodSpec(
    name="hirescam", title="HiResCAM", settings=GradCamSettings, needs=("cam_layers",), cost=_cost,
    description="Gradient x activation summed over channels: what the layer's cells add to the logit.",
    reference="Draelos & Carin 2020; captum LayerGradientXActivation",
))
def hirescam(subject: Subject, target: int, settings: GradCamSettings = GradCamSettings(),
             progress: Callable[[float], None] | None = None) -> dict[str, AttributionMap]:
    return _summed("hirescam", subject, target, settings)
