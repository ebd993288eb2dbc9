"""``ModelSpec``: what the rest of serwb needs to know about a model without building it.

Every model class carries one (``SerModel.default_spec``, adapted to the instance's settings); the registry
keeps the same spec per registered name, so ``models.spec(name)`` answers without building anything.
"""

from __future__ import annotations

from dataclasses import dataclass

INPUT_KINDS = ("log-mel", "patch", "mfcc-seq", "volume")


@dataclass(frozen=True)
class ModelSpec:
    """What the rest of serwb needs to know about a model without building it."""

    name: str
    paper: str  # "S0".."S3" (DESIGN.md's table of systems)
    input_kind: str  # one of INPUT_KINDS
    feature_preset: str  # default core.features preset name
    cam_layers: tuple[str, ...] = ()  # dotted names for model.get_submodule: Grad-CAM hooks their output
    eca_taps: tuple[str, ...] = ()  # dotted names of ECA modules; hook "<tap>.gate" for the channel weights
    has_attention: bool = False  # the model has attention_weights(x) -> (B, steps)
    description: str = ""
    min_frames: int = 1  # shortest input (frames) forward accepts; shorter clips are padded inside

    def __post_init__(self):
        if self.input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind must be one of {INPUT_KINDS}, not {self.input_kind!r}")
