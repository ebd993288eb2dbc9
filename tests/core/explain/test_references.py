"""Our explanations and metrics against code no one here wrote: pytorch-grad-cam and quantus.

- Grad-CAM, Grad-CAM++ and HiResCAM of every registered conv model equal pytorch-grad-cam's ``GradCAM``,
  ``GradCAMPlusPlus`` and ``HiResCAM`` on the same model, layer and target, at the layer's own resolution (before
  either side resizes: we upsample with the model's ``cam_to_grid``, pytorch-grad-cam with OpenCV).
- The deletion curve equals quantus's ``PixelFlipping`` curve on the same map and baseline; the AUCs differ only
  in normalisation (ours: over the removed fraction 0..1 including the unperturbed clip; quantus: steps of 1 from
  the first removal), and the test checks that relation exactly.
"""

import warnings

import numpy as np
import pytest
import quantus
import torch
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, HiResCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from core import models
from core.explain.evaluate import perturbation_curve
from core.explain.gradcam import CAMS, _layer_cam
from core.explain.maps import Grid
from core.features import PRESETS

REFERENCE = {"gradcam": GradCAM, "gradcampp": GradCAMPlusPlus, "hirescam": HiResCAM}
CONV_MODELS = [name for name in models.available() if models.spec(name).cam_layers]


def reference_cam(kind: str, model, layer, x: torch.Tensor, target: int) -> np.ndarray:
    """pytorch-grad-cam's map of one layer, ReLU'd as its ``compute_cam_per_layer`` does, before its resize."""
    one_d = {}

    def as_image(t):  # pytorch-grad-cam takes 2D or 3D maps; a Conv1d layer's (B, C, T) becomes (B, C, T, 1)
        one_d["was"] = t.dim() == 3
        return t[..., None] if t.dim() == 3 else t

    cam = REFERENCE[kind](model, [layer], reshape_transform=as_image)
    try:
        outputs = cam.activations_and_grads(x)
        targets = [ClassifierOutputTarget(target)]
        model.zero_grad()
        sum(t(o) for t, o in zip(targets, outputs)).backward()
        acts = cam.activations_and_grads.activations[0].numpy()
        grads = cam.activations_and_grads.gradients[0].numpy()
        ref = np.maximum(cam.get_cam_image(x, layer, targets, acts, grads, False), 0)
    finally:
        cam.activations_and_grads.release()
    return ref[..., 0] if one_d["was"] else ref


@pytest.mark.parametrize("name", CONV_MODELS)
def test_layer_cams_equal_pytorch_grad_cam(name):
    torch.manual_seed(0)
    model = models.build(name, 4, **models.demo_config(name)).eval()
    bands = PRESETS[model.spec.feature_preset].n_bands
    x = torch.randn(1, bands, 161, generator=torch.Generator().manual_seed(1)) - 4.0
    compared = 0
    for layer_name in model.spec.cam_layers:
        layer = model.get_submodule(layer_name)
        for kind in CAMS:
            for target in (0, 2):
                ours = _layer_cam(model, layer, x, target, kind).detach().numpy()
                ref = reference_cam(kind, model, layer, x, target)
                assert ours.shape == ref.shape, (name, layer_name, kind)
                scale = max(float(np.abs(ref).max()), 1e-12)
                np.testing.assert_allclose(ours / scale, ref / scale, atol=2e-5, err_msg=f"{name} {layer_name} {kind}")
                compared += 1
    assert compared == 6 * len(model.spec.cam_layers)


class _OneChannel(torch.nn.Module):
    """quantus treats axis 1 as channels: our (B, bands, frames) model behind a (B, 1, bands, frames) input."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x[:, 0])


def test_the_deletion_curve_equals_quantus_pixel_flipping(planted_subject):
    grid = Grid(64, 100, 8, 25)  # the "cells" unit of perturbation_curve
    cell_values = np.random.default_rng(0).permutation(grid.n_cells).astype(np.float32)  # distinct: no ties
    values = grid.expand(cell_values)
    attribution = planted_subject.make_map("toy", values, 1, {}, 0.0)
    ours = perturbation_curve(planted_subject, attribution, mode="deletion", unit="cells", baseline_kind="silence",
                              steps=grid.n_cells)

    x = planted_subject.features
    metric = quantus.PixelFlipping(features_in_step=grid.band_step * grid.frame_step, perturb_baseline=float(x.min()),
                                   disable_warnings=True, display_progressbar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = np.asarray(metric(model=_OneChannel(planted_subject.model).eval(), x_batch=x[None, None].numpy(),
                                   y_batch=np.array([1]), a_batch=values[None, None], device="cpu", softmax=True)[0])
    assert len(theirs) == grid.n_cells == len(ours.scores) - 1
    np.testing.assert_allclose(ours.scores[1:], theirs, atol=1e-5)  # quantus starts after the first removal
    first_step = (ours.scores[0] + ours.scores[1]) / 2
    assert ours.auc == pytest.approx((np.trapezoid(theirs, dx=1) + first_step) / grid.n_cells, abs=1e-5)
