"""Controls for the explanation settings, shared by the pages that use them.

Every control keeps its value across page switches (``state.persistent``) and writes the
session's one ``core.explain.Settings`` so that every page asks for the same cached analyses.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from core.explain import FocusSettings, LimeSettings, OcclusionSettings, Settings
from core.explain.baselines import REMOVALS
from workbench import state
from workbench.checkpoints import Loaded


PREDICTED = "(predicted)"
REMOVAL_HELP = ("What a removed cell becomes. auto: what the model was trained to see as 'nothing' (the clip's own "
                "background for models padded with their noise floor, the spectrogram's minimum for zero-padded "
                "ones); floor: the clip's quietest tenth of frames; silence: the minimum; mean/noise: each band's "
                "mean / noise around it.")


def target(loaded: Loaded) -> int | None:
    """The emotion to explain: the predicted one unless the user picks another."""
    options = [PREDICTED, *loaded.labels]
    current = st.session_state.get("target_label")
    key = f"w:target:{loaded.hash[:12]}"  # options differ per model
    if key not in st.session_state:
        st.session_state[key] = current if current in loaded.labels else PREDICTED
    chosen = st.selectbox("Target emotion", options, key=key,
                          format_func=lambda v: "the predicted emotion" if v == PREDICTED else v,
                          help="Which class the maps explain. By default the class the model predicts.")
    st.session_state["target_label"] = None if chosen == PREDICTED else chosen
    return state.target_index(loaded.labels)


def display() -> tuple[float, bool]:
    """Overlay opacity and whether all maps share one colour scale (drawing only: nothing recomputes)."""
    left, right = st.columns(2)
    opacity = left.slider("Overlay opacity", 0.0, 1.0, step=0.05,
                          key=state.persistent("opacity", state.stored("opacity", 0.6)))
    state.remember("opacity")
    scale = right.radio("Colour scale", ["per map", "shared"], horizontal=True,
                        key=state.persistent("scale", state.stored("scale", "per map")),
                        help="Shared: one scale (the largest |attribution| of all maps), so map strengths compare.")
    state.remember("scale")
    return opacity, scale == "shared"


def _layer_options(loaded: Loaded) -> list[str | None]:
    """None (the model's own Grad-CAM layer) and, for one-layer models, the earlier blocks beside it."""
    layers = loaded.spec.cam_layers
    if len(layers) != 1 or "." not in layers[0]:
        return [None]
    parent = layers[0].rsplit(".", 1)[0]
    try:
        siblings = [f"{parent}.{name}" for name, _ in loaded.model.get_submodule(parent).named_children()]
    except AttributeError:
        return [None]
    return [None, *[s for s in reversed(siblings) if s != layers[0]]]


MS = dict(min_value=10.0, max_value=3000.0, step=10.0)


def _number(col, label: str, key: str, seed, **kw):
    value = col.number_input(label, key=state.persistent(key, seed), **kw)
    return seed if value is None else value


def methods(loaded: Loaded, settings: Settings) -> Settings:
    """Each method's settings, in one expander; returns ``settings`` with them applied."""
    o, l = settings.occlusion, settings.lime
    with st.expander("Method settings", icon=":material/tune:"):
        gc, oc, lc = st.columns(3)
        gc.markdown("**Grad-CAM**")
        options = _layer_options(loaded)
        default_layer = ", ".join(loaded.spec.cam_layers) or "none"
        layer_key = f"gradcam_layer:{loaded.hash[:12]}"
        seed = settings.gradcam_layer if settings.gradcam_layer in options else None
        layer = gc.selectbox("Layer", options, key=state.persistent(layer_key, seed),
                             format_func=lambda v: f"model default ({default_layer})" if v is None else v,
                             help="Earlier blocks: finer time and frequency detail; later ones: more class-specific.")
        oc.markdown("**Occlusion**")
        occlusion = OcclusionSettings(
            window_ms=_number(oc, "Window (ms)", "occ_window_ms", o.window_ms, **MS),
            window_bands=_number(oc, "Window (bands)", "occ_window_bands", o.window_bands, min_value=1, max_value=128),
            stride_ms=_number(oc, "Stride (ms)", "occ_stride_ms", o.stride_ms, **MS),
            stride_bands=_number(oc, "Stride (bands)", "occ_stride_bands", o.stride_bands, min_value=1, max_value=128),
            baseline=oc.selectbox("Baseline", REMOVALS, key=state.persistent("occ_baseline", o.baseline),
                                  help=REMOVAL_HELP),
        )
        lc.markdown("**LIME**")
        lime = LimeSettings(
            num_samples=_number(lc, "Samples", "lime_samples", l.num_samples, min_value=20, max_value=5000, step=50),
            cell_ms=_number(lc, "Cell (ms)", "lime_cell_ms", l.cell_ms, min_value=20.0, max_value=3000.0, step=10.0),
            cell_bands=_number(lc, "Cell (bands)", "lime_cell_bands", l.cell_bands, min_value=1, max_value=128),
            baseline=lc.selectbox("Baseline ", REMOVALS, key=state.persistent("lime_baseline", l.baseline),
                                  help=REMOVAL_HELP),
            seed=_number(lc, "Seed", "lime_seed", l.seed, min_value=0, max_value=2**31 - 1),
        )
    return replace(settings, gradcam_layer=layer, occlusion=occlusion, lime=lime)


def focus(settings: Settings) -> Settings:
    """S3 focus-clip smoothing and threshold, and the share of each map the keep/remove versions use."""
    f = settings.focus
    a, b, c = st.columns(3)
    smooth = a.slider("Smoothing (ms)", 10, 1000, step=10, key=state.persistent("smooth_ms", int(f.smooth_ms)),
                      help="Length of the moving-average (ones) filter over the Grad-CAM time curve (S3).")
    threshold = b.slider("Threshold", -1.0, 1.0, step=0.05, key=state.persistent("threshold", float(f.threshold)),
                         help="Keep where the normalised, centred curve exceeds this (0: above its mean).")
    keep = c.slider("Keep / remove share", 0.05, 0.9, step=0.05,
                    key=state.persistent("keep_fraction", float(settings.keep_fraction)),
                    help="Share of each map's highest cells that the phase-preserving versions keep or remove.")
    focus = FocusSettings(smooth_ms=float(smooth), threshold=float(threshold), fade_ms=f.fade_ms)
    return replace(settings, focus=focus, keep_fraction=float(keep))
