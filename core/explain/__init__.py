"""Attribution engine: Grad-CAM, occlusion, LIME, attention and ECA gates, focus audio, and metrics.

``analyze(clip, model, card, methods=..., settings=...) -> Analysis`` is the one call the
workbench and the CLI make; the modules below are its parts.
"""

from core.explain.analysis import DEFAULT_METHODS, METHODS, Analysis, AudioVersion, Settings, analyze, cache_key
from core.explain.lime import LimeSettings
from core.explain.maps import AttributionMap, Grid, normalise, shared_scale
from core.explain.occlusion import OcclusionSettings
from core.explain.sonify import FocusSettings

__all__ = [
    "analyze", "Analysis", "AudioVersion", "Settings", "cache_key", "METHODS", "DEFAULT_METHODS",
    "AttributionMap", "Grid", "normalise", "shared_scale", "LimeSettings", "OcclusionSettings", "FocusSettings",
]
