"""Which ``core.explain.analyze`` calls a page needs, submitted as shared background jobs.

One clip's explanation is split into parts, one ``analyze`` call each, so that Grad-CAM shows
first while slower methods fill in, and a change to one method's settings recomputes only
that method:

- ``gradcam``: Grad-CAM, probabilities, focus clip and complement, keep/remove versions;
- every other registered method (``core.explain.methods``) the model supports: that map and its keep/remove versions;
- ``griffin-lim``: the Grad-CAM keep-only spectrogram inverted without phase (slow: last).

Each part is two steps with their own keys: its map (``core.explain.analyze`` without audio, keyed by the clip,
the model, the method, that method's settings and the target) and its audio versions derived from that map
(``core.explain.add_audio``, keyed by the map and the listening settings: focus, keep share, Griffin-Lim). So the
Listen page's sliders re-derive audio from the cached map and never recompute an attribution. ``merge`` joins
finished parts into one ``Analysis`` for pages and export; it copies dicts and computes nothing.

The Compare page's numbers (agreement, deletion and insertion curves, the randomisation check) are jobs too,
keyed by the parts they read and their own settings (``submit_agreement``, ``submit_faithfulness``,
``submit_sanity``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import torch

from core.audio import Clip
from core.explain import Analysis, AttributionMap, FocusSettings, Settings, add_audio, analyze, cache_key, evaluate
from core.explain import methods as registry
from core.explain.eca import eca_gates, eca_profiles
from workbench import state
from workbench.checkpoints import Loaded
from workbench.jobs import Job

GRIFFIN_LIM = "griffin-lim"
TITLES = {**{name: registry.method_spec(name).title for name in registry.available()}, GRIFFIN_LIM: "Griffin-Lim"}


def part_settings(part: str, settings: Settings) -> Settings:
    """Only the fields of ``settings`` that change this part's result."""
    common = dict(target=settings.target, keep_fraction=settings.keep_fraction, griffin_lim_iters=0)
    if part == "gradcam":
        return settings.only(["gradcam"], **common)
    if part == GRIFFIN_LIM:
        return settings.only(["gradcam"], **{**common, "griffin_lim_iters": settings.griffin_lim_iters},
                             focus=FocusSettings())
    return settings.only([part], **common, focus=FocusSettings())


def part_methods(part: str) -> tuple[str, ...]:
    return ("gradcam",) if part == GRIFFIN_LIM else (part,)


def parts_for(loaded: Loaded, *, griffin_lim: bool = True) -> list[str]:
    """The parts to compute for this model, in the order they should appear: the methods the session chose."""
    parts = [m for m in registry.available() if m in state.chosen_methods(loaded)]
    if griffin_lim and "gradcam" in parts:
        parts.append(GRIFFIN_LIM)
    return parts


def key(clip: Clip, loaded: Loaded, part: str, settings: Settings) -> str:
    return cache_key(clip.sha256, loaded.hash, part_methods(part), part_settings(part, settings)) + f":{part}"


def map_settings(part: str, settings: Settings) -> Settings:
    """What a part's map depends on: its method's settings and the target (no audio)."""
    return Settings(target=settings.target, methods={m: settings.of(m) for m in part_methods(part)},
                    griffin_lim_iters=0, audio=False)


def map_key(clip: Clip, loaded: Loaded, part: str, settings: Settings) -> str:
    methods = part_methods(part)
    return cache_key(clip.sha256, loaded.hash, methods, map_settings(part, settings)) + f":map:{methods[0]}"


def _step_message(step: str, method: str) -> str:
    """What a part is doing, for its progress bar (which already shows the part's title)."""
    return "computing the map" if step == method else f"computing {TITLES.get(step, step)}"


def submit(clip: Clip, loaded: Loaded, part: str, settings: Settings) -> Job:
    """Start (or find) the job for one part; its value is an ``Analysis``."""
    methods, s, runner = part_methods(part), part_settings(part, settings), state.runner()

    def compute(progress):
        model = loaded.model  # shared: core.explain holds its model_lock around every use
        mapped = runner.memo(map_key(clip, loaded, part, settings), lambda: analyze(
            clip, model, loaded.card, methods=methods, settings=map_settings(part, settings), device="auto",
            progress=lambda step, fraction: progress(0.95 * fraction, _step_message(step, methods[0]))),
            label=f"{TITLES[methods[0]]} map of {clip.name}")
        progress(0.95, "audio versions")
        return add_audio(mapped, clip, model, loaded.card, s)

    runner.touch(map_key(clip, loaded, part, settings))  # the map outlives the audio jobs derived from it
    return runner.submit(key(clip, loaded, part, settings), compute, label=f"{TITLES[part]} of {clip.name}")


@dataclass(frozen=True)
class EcaGates:
    """What the ECA page shows for session clips: each clip's gates and prediction, and the per-emotion profiles."""

    gates: dict[str, dict]  # clip SHA-256 -> {tap: (1, C) gates}
    predicted: dict[str, str]  # clip SHA-256 -> predicted emotion
    profiles: dict  # tap -> core.explain.eca.EcaProfile, clips grouped by predicted emotion


def submit_eca(clips: Sequence[Clip], loaded: Loaded) -> Job:
    """One background job: the ECA gates of every clip (model input and prediction from ``analyze``, no maps) and
    their per-emotion profiles, so the page computes nothing in its script thread."""
    clips = list(clips)
    key = cache_key(",".join(c.sha256 for c in clips), loaded.hash, ["eca-gates"], Settings(audio=False)) + ":eca"

    def compute(progress):
        gates, predicted, batches = {}, {}, []
        for i, clip in enumerate(clips):
            progress(i / len(clips), f"clip {i + 1} of {len(clips)}")
            a = analyze(clip, loaded.model, loaded.card, methods=(), settings=Settings(audio=False), device="auto")
            x = torch.as_tensor(a.spectrogram, device=next(loaded.model.parameters()).device)[None]
            gates[clip.sha256], predicted[clip.sha256] = eca_gates(loaded.model, x), a.predicted_label
            batches.append((x, [a.predicted]))
        return EcaGates(gates, predicted, eca_profiles(loaded.model, batches, loaded.labels))

    return state.runner().submit(key, compute, label=f"ECA gates of {len(clips)} clip(s)")


def fit_to_model(settings: Settings, loaded: Loaded) -> Settings:
    """The session's settings for this model: the chosen target emotion looked up in its labels, and a
    Grad-CAM layer chosen for another model dropped (e.g. after switching models on another page)."""
    layer = settings.of("gradcam").layer
    if layer is not None:
        try:
            loaded.model.get_submodule(layer)
        except AttributeError:
            settings = settings.with_method("gradcam", layer=None)
    return replace(settings, target=state.target_index(loaded.labels))


def submit_all(clip: Clip, loaded: Loaded, settings: Settings, parts: Sequence[str] | None = None) -> dict[str, Job]:
    """Every part for this clip and model (see ``parts_for``), with ``settings`` fitted to the model."""
    settings = fit_to_model(settings, loaded)
    jobs = {part: submit(clip, loaded, part, settings) for part in (parts or parts_for(loaded))}
    state.track((clip.sha256, loaded.hash), jobs.values())
    return jobs


def merge(parts: dict[str, Analysis], settings: Settings) -> Analysis:
    """One ``Analysis`` holding every finished part's maps, curves and audio versions."""
    order = [p for p in (*registry.available(), GRIFFIN_LIM) if p in parts]
    base = parts[order[0]]
    maps, curves, audio, timings, errors = {}, {}, {}, {}, {}
    for part in order:
        a = parts[part]
        if part != GRIFFIN_LIM:
            maps.update(a.maps)
            curves.update(a.time_curves)
        audio.update({n: v for n, v in a.audio.items() if part != GRIFFIN_LIM or n == GRIFFIN_LIM})
        timings.update({f"{part}: {step}": seconds for step, seconds in a.timings.items()})
        errors.update(a.errors)
    focus = parts.get("gradcam")
    return replace(
        base, maps=maps, time_curves=curves, audio=audio, timings=timings, errors=errors, settings=settings,
        focus_gate=focus.focus_gate if focus else None, focus_curve=focus.focus_curve if focus else None,
        attention=parts["attention"].attention if "attention" in parts else None,
    )


def ui_settings(settings: Settings, *, target: int | None, focus: FocusSettings | None = None,
                keep_fraction: float | None = None, **methods) -> Settings:
    """``settings`` with the controls a page changed (None: keep); ``methods`` are ``name=settings`` pairs."""
    changes = {"target": target}
    for name, value in (("focus", focus), ("keep_fraction", keep_fraction)):
        if value is not None:
            changes[name] = value
    settings = replace(settings, **changes)
    for name, value in methods.items():
        if value is not None:
            settings = settings.with_method(name, value)
    return settings


# ------------------------------------------------------------------------------ the Compare page's numbers


def _derived_key(kind: str, parts: Mapping[str, Job], *params) -> str:
    """A key for a result computed from finished parts: the parts' keys and the result's own settings."""
    payload = repr([sorted(j.key for j in parts.values()), params])
    return f"{kind}:{hashlib.sha256(payload.encode()).hexdigest()}"


def submit_agreement(parts: Mapping[str, Job], maps: Mapping[str, AttributionMap], fraction: float) -> Job:
    """Rank correlation and top-``fraction`` IoU of every pair of ``maps`` (``core.explain.evaluate.agreement``)."""
    return state.runner().submit(_derived_key("agreement", parts, fraction),
                                 lambda progress: evaluate.agreement(dict(maps), fraction),
                                 label="Agreement between methods")


def submit_faithfulness(parts: Mapping[str, Job], merged: Analysis, loaded: Loaded,
                        maps: Mapping[str, AttributionMap], *, unit: str, baseline: str, steps: int) -> Job:
    """Deletion and insertion curves of ``maps`` on the analysed input (``evaluate.faithfulness``)."""
    return state.runner().submit(
        _derived_key("faithfulness", parts, unit, baseline, steps),
        lambda progress: evaluate.faithfulness(merged.subject(loaded.model), dict(maps), unit=unit,
                                               baseline_kind=baseline, steps=steps),
        label="Deletion and insertion curves")


def submit_sanity(parts: Mapping[str, Job], merged: Analysis, loaded: Loaded, method: str,
                  settings: Settings) -> Job:
    """The cascading-randomisation check of ``method`` with the session's settings (``evaluate.randomisation_check``),
    on the shared model (``core.explain.subject.model_lock`` guards every use of it)."""
    target, chosen = merged.target, settings.of(method)
    return state.runner().submit(
        _derived_key("sanity", parts, method, chosen),
        lambda progress: evaluate.randomisation_check(
            merged.subject(loaded.model), lambda s: registry.explain(method, s, target, chosen)[method]),
        label=f"Randomisation check of {TITLES[method]}")
