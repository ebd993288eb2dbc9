"""Colour-blind-safe colours (Okabe & Ito 2008) shared by core's report figures and the workbench."""

#: Okabe-Ito, reordered so that yellow (weak on white) comes late; black last.
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#F0E442", "#000000"]
BLUE, VERMILLION, GREY, WHITE = "#0072B2", "#D55E00", "#999999", "#FFFFFF"
