"""Attribution engine: the registered methods (Grad-CAM, occlusion, LIME, attention), ECA gates, focus audio, metrics.

``analyze(clip, model, card, methods=..., settings=...) -> Analysis`` is the one call the
workbench and the CLI make; ``core.explain.methods`` is the method registry it reads.
"""

from core.explain.analysis import (DEFAULT_METHODS, METHODS, Analysis, AudioVersion, Settings, add_audio, analyze,
                                   cache_key)
from core.explain.attention import AttentionSettings
from core.explain.gradcam import GradCamSettings
from core.explain.lime import LimeSettings
from core.explain.maps import AttributionMap, Grid, normalise, rank_normalise, shared_scale
from core.explain.occlusion import OcclusionSettings
from core.explain.sonify import FocusSettings

__all__ = [
    "analyze", "add_audio", "Analysis", "AudioVersion", "Settings", "cache_key", "METHODS", "DEFAULT_METHODS",
    "AttributionMap", "Grid", "normalise", "rank_normalise", "shared_scale", "GradCamSettings", "LimeSettings", "OcclusionSettings",
    "AttentionSettings", "FocusSettings",
]
