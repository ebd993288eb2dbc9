"""Colour-blind-safe palettes for plotly (Okabe & Ito 2008, from core; Cividis) shared by every figure."""

from core.explain.colours import BLUE, GREY, OKABE_ITO, VERMILLION, WHITE

__all__ = ["BLUE", "DIVERGING", "GREY", "OKABE_ITO", "SEQUENTIAL", "UNDERLAY", "VERMILLION", "by_label"]

#: Magnitudes (spectrogram energy, unsigned attribution, counts): perceptually uniform.
SEQUENTIAL = "Cividis"
#: Signed attribution: Okabe-Ito blue (against the class) through white to vermillion (for it).
DIVERGING = [[0.0, BLUE], [0.5, WHITE], [1.0, VERMILLION]]
#: The spectrogram under an overlay: grey, so the overlay's colours stay readable.
UNDERLAY = "gray"


def by_label(labels) -> dict[str, str]:
    """One Okabe-Ito colour per emotion, stable for a given label order."""
    return {label: OKABE_ITO[i % len(OKABE_ITO)] for i, label in enumerate(labels)}
