"""Controls for the explanation settings, shared by the pages that use them.

Every control keeps its value across page switches (``state.persistent``) and writes the
session's one ``core.explain.Settings`` so that every page asks for the same cached analyses.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from core.explain import FocusSettings, Settings
from core.explain import methods as registry
from workbench import state
from workbench.checkpoints import Loaded


PREDICTED = "(predicted)"


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


SCALES = {"own maximum": False, "rank within map": True}


def display() -> tuple[float, bool]:
    """Overlay opacity and whether maps are drawn as ranks (drawing only: nothing recomputes)."""
    left, right = st.columns(2)
    opacity = left.slider("Overlay opacity", 0.0, 1.0, step=0.05,
                          key=state.persistent("opacity", state.stored("opacity", 0.6)))
    state.remember("opacity")
    scale = right.radio("Colour scale", list(SCALES), horizontal=True,
                        key=state.persistent("scale", state.stored("scale", "own maximum")),
                        help="Own maximum: each map divided by its largest |attribution|. Rank within map: each cell's "
                             "rank in its map, so methods in different units (a logit drop, a regression weight, a "
                             "gradient) compare: the brightest 10 % is the top 10 % of every map.")
    state.remember("scale")
    return opacity, SCALES.get(scale, False)


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


def method_picker(loaded: Loaded) -> tuple[str, ...]:
    """Which of the model's attribution methods to compute and show (kept per model for the session)."""
    key = f"w:methods:{loaded.hash[:12]}"
    if key not in st.session_state:
        st.session_state[key] = list(state.chosen_methods(loaded))
    titles = {name: registry.method_spec(name).title for name in loaded.methods}
    chosen = st.multiselect(
        "Methods", list(loaded.methods), key=key, format_func=titles.get,
        help="Attribution methods to compute for this clip; each appears as an overlay here and in Compare. "
             "Gradient and CAM methods take a few backward passes; occlusion, LIME and KernelSHAP hundreds of "
             "forwards (`serwb methods` describes each).")
    state.set_chosen_methods(loaded, chosen)
    return state.chosen_methods(loaded)


def _widget(col, loaded: Loaded, method: str, info, current):
    """One setting's control, drawn from its declaration in the method registry."""
    key = f"{method}_{info.name}"
    if info.widget == "layer":  # shown by name; the model's own layer(s) stand for None (the setting's default)
        default_layer = ", ".join(loaded.spec.cam_layers) or "none"
        options = [default_layer if o is None else o for o in _layer_options(loaded)]
        seed = current if current in options else default_layer
        chosen = col.selectbox(info.label, options, key=state.persistent(f"{key}:{loaded.hash[:12]}", seed),
                               format_func=lambda v: f"{v} (model default)" if v == default_layer else v,
                               help=info.help)
        return None if chosen == default_layer else chosen
    if info.choices is not None:
        return col.selectbox(info.label, info.choices, key=state.persistent(key, current), help=info.help)
    if isinstance(info.default, bool):
        return col.toggle(info.label, key=state.persistent(key, bool(current)), help=info.help or None)
    kind = type(info.default)
    current = kind(current)  # one numeric type for value, range and step, as st.number_input requires
    numbers = {"min_value": kind(info.low) if info.low is not None else None,
               "max_value": kind(info.high) if info.high is not None else None}
    if info.step is not None:
        numbers["step"] = kind(info.step)
    value = col.number_input(info.label, key=state.persistent(key, current), help=info.help or None, **numbers)
    return current if value is None else value


def methods(loaded: Loaded, settings: Settings) -> Settings:
    """The settings of each chosen method, in one expander (three per row), drawn from the method registry."""
    shown = {name: [i for i in registry.method_spec(name).setting_infos() if i.shown]
             for name in state.chosen_methods(loaded)}
    names = [name for name, infos in shown.items() if infos]
    if not names:
        return settings
    with st.expander("Method settings", icon=":material/tune:"):
        for row in range(0, len(names), 3):
            for name, col in zip(names[row:row + 3], st.columns(3)):
                col.markdown(f"**{registry.method_spec(name).title}**")
                current = settings.of(name)
                values = {i.name: _widget(col, loaded, name, i, getattr(current, i.name)) for i in shown[name]}
                settings = settings.with_method(name, current, **values)
    return settings


def focus(settings: Settings) -> Settings:
    """S3 focus-clip smoothing and threshold, and the share of each map the keep/remove versions use."""
    f = settings.focus
    a, b, c = st.columns(3)
    smooth = a.slider("Smoothing (ms)", 10, 1000, step=10, key=state.persistent("smooth_ms", int(f.smooth_ms)),
                      help="Length of the moving-average (ones) filter over the Grad-CAM time curve (as in Kim & Kwak, 2024).")
    threshold = b.slider("Threshold", -1.0, 1.0, step=0.05, key=state.persistent("threshold", float(f.threshold)),
                         help="Keep where the normalised, centred curve exceeds this (0: above its mean).")
    keep = c.slider("Keep / remove share", 0.05, 0.9, step=0.05,
                    key=state.persistent("keep_fraction", float(settings.keep_fraction)),
                    help="Share of each map's highest cells that the phase-preserving versions keep or remove.")
    focus = FocusSettings(smooth_ms=float(smooth), threshold=float(threshold), fade_ms=f.fade_ms)
    return replace(settings, focus=focus, keep_fraction=float(keep))
