"""Gradient attributions on the spectrogram (captum): Integrated Gradients, GradientSHAP and SmoothGrad.

Each attributes the target's logit to every (band, frame) of the model input. Integrated Gradients
integrates the gradient on the straight path from a baseline (what "removed" means on a log-mel grid:
``core.explain.baselines``) to the clip; GradientSHAP averages gradient x (input - baseline) over noisy
inputs and baselines drawn around that baseline; SmoothGrad averages plain gradients over noisy copies of
the clip (captum ``NoiseTunnel`` over ``Saliency``, noise as a share of the clip's range as Smilkov et al.
advise). The batches of interpolated or noisy copies are sized by ``Subject.batch_size``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from captum.attr import GradientShap, IntegratedGradients, NoiseTunnel, Saliency

from core.explain.baselines import REMOVAL_HELP, REMOVALS
from core.explain.maps import AttributionMap
from core.explain.registry import MethodSpec, register_method, setting
from core.explain.subject import Subject, model_lock, reporting


@dataclass(frozen=True)
class IntegratedGradientsSettings:
    n_steps: int = setting(32, label="Steps", help="Points on the path from the baseline to the clip.", low=4, high=512)
    baseline: str = setting("auto", label="Baseline", choices=REMOVALS, help=REMOVAL_HELP)
    seed: int = setting(0, label="Seed", help="For the noise baseline.", low=0, high=2**31 - 1, shown=False)


@dataclass(frozen=True)
class GradientShapSettings:
    n_samples: int = setting(32, label="Samples", help="Noisy input and baseline pairs averaged.", low=4, high=512)
    stdev: float = setting(0.1, label="Noise (share of range)", low=0.0, high=1.0, step=0.05,
                           help="Gaussian noise added to the input, as a share of its value range.")
    baseline: str = setting("auto", label="Baseline", choices=REMOVALS, help=REMOVAL_HELP)
    seed: int = setting(0, label="Seed", help="Draws the noise and the baselines.", low=0, high=2**31 - 1)


@dataclass(frozen=True)
class SmoothGradSettings:
    n_samples: int = setting(32, label="Samples", help="Noisy copies of the clip averaged.", low=4, high=512)
    stdev: float = setting(0.15, label="Noise (share of range)", low=0.0, high=1.0, step=0.05,
                           help="Gaussian noise as a share of the clip's value range (Smilkov et al.: 10-20 %).")
    seed: int = setting(0, label="Seed", help="Draws the noise.", low=0, high=2**31 - 1)


def _range(subject: Subject) -> float:
    return float(subject.features.max() - subject.features.min()) or 1.0


@register_method(MethodSpec(
    name="integrated-gradients", title="Integrated Gradients", settings=IntegratedGradientsSettings,
    cost=lambda subject, settings: 2 * settings.n_steps + 2,  # the path, and the two ends for the convergence delta
    description="The gradient integrated on the straight path from a removed-clip baseline to the clip.",
    reference="Sundararajan et al. 2017; captum IntegratedGradients",
))
def integrated_gradients(subject: Subject, target: int,
                         settings: IntegratedGradientsSettings = IntegratedGradientsSettings(),
                         progress: Callable[[float], None] | None = None) -> dict[str, AttributionMap]:
    started = time.perf_counter()
    removed, base = subject.removed(settings.baseline, settings.seed)
    base = base[None]
    size = subject.batch_size()
    forward = reporting(subject.model, -(-settings.n_steps // size) + 2, progress)  # path batches, then both ends
    with model_lock(subject.model):
        values, delta = IntegratedGradients(forward).attribute(
            subject.features[None], baselines=base, target=int(target), n_steps=settings.n_steps,
            internal_batch_size=size, return_convergence_delta=True)
    recorded = {**asdict(settings), "baseline": removed, "convergence_delta": float(delta.abs().max())}
    return {"integrated-gradients": subject.make_map("integrated-gradients", values[0], target, recorded, started)}


@register_method(MethodSpec(
    name="gradient-shap", title="GradientSHAP", settings=GradientShapSettings,
    cost=lambda subject, settings: 2 * settings.n_samples,
    description="Expected gradient x (input - baseline) over noisy inputs and baselines around a removed clip.",
    reference="Lundberg & Lee 2017; captum GradientShap",
))
def gradient_shap(subject: Subject, target: int, settings: GradientShapSettings = GradientShapSettings(),
                  progress: Callable[[float], None] | None = None) -> dict[str, AttributionMap]:
    started = time.perf_counter()
    removed, base = subject.removed(settings.baseline, settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    jitter = torch.randn((8, *base.shape), generator=generator).to(base.device, base.dtype)
    baselines = base[None] + settings.stdev * _range(subject) * jitter  # a distribution of baselines around it
    with model_lock(subject.model):
        torch.manual_seed(settings.seed)  # captum draws the input noise and the baseline picks from the global RNG
        values = GradientShap(subject.model).attribute(
            subject.features[None], baselines=baselines, n_samples=settings.n_samples,
            stdevs=settings.stdev * _range(subject), target=int(target))
    recorded = {**asdict(settings), "baseline": removed}
    return {"gradient-shap": subject.make_map("gradient-shap", values[0], target, recorded, started)}


@register_method(MethodSpec(
    name="smoothgrad", title="SmoothGrad", settings=SmoothGradSettings,
    cost=lambda subject, settings: 2 * settings.n_samples,
    description="The gradient of the target averaged over noisy copies of the clip (signed).",
    reference="Smilkov et al. 2017; captum NoiseTunnel(Saliency)",
))
def smoothgrad(subject: Subject, target: int, settings: SmoothGradSettings = SmoothGradSettings(),
               progress: Callable[[float], None] | None = None) -> dict[str, AttributionMap]:
    started = time.perf_counter()
    size = subject.batch_size()
    forward = reporting(subject.model, -(-settings.n_samples // size), progress)
    with model_lock(subject.model):
        torch.manual_seed(settings.seed)  # NoiseTunnel draws its noise from the global RNG
        values = NoiseTunnel(Saliency(forward)).attribute(
            subject.features[None], nt_type="smoothgrad", nt_samples=settings.n_samples,
            nt_samples_batch_size=size, stdevs=settings.stdev * _range(subject),
            target=int(target), abs=False)
    return {"smoothgrad": subject.make_map("smoothgrad", values[0], target, asdict(settings), started)}
