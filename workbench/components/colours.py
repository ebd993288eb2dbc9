"""Colour-blind-safe palettes (Okabe & Ito 2008; Cividis) shared by every figure."""

#: Okabe-Ito, reordered so that yellow (weak on white) comes late; black last.
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#F0E442", "#000000"]
BLUE, VERMILLION, ORANGE, GREEN, GREY = "#0072B2", "#D55E00", "#E69F00", "#009E73", "#999999"

#: Magnitudes (spectrogram energy, unsigned attribution, counts): perceptually uniform.
SEQUENTIAL = "Cividis"
#: Signed attribution: Okabe-Ito blue (against the class) through white to vermillion (for it).
DIVERGING = [[0.0, BLUE], [0.5, "#FFFFFF"], [1.0, VERMILLION]]
#: The spectrogram under an overlay: grey, so the overlay's colours stay readable.
UNDERLAY = "gray"


def by_label(labels) -> dict[str, str]:
    """One Okabe-Ito colour per emotion, stable for a given label order."""
    return {label: OKABE_ITO[i % len(OKABE_ITO)] for i, label in enumerate(labels)}
