"""One call from (clip, model) to everything the workbench shows: ``analyze(...) -> Analysis``.

The Analysis holds the features, the class probabilities, one ``AttributionMap`` per method,
time curves, audio versions (original, S3 focus clip and complement, phase-preserving keep /
remove per method, Griffin-Lim) each re-scored by the model, and timings. It is safe to call
from several threads with one shared model: hook-based steps hold the model's lock, the rest
are plain forwards. ``cache_key`` names an analysis by the clip's SHA-256, the checkpoint's
hash and the settings, so callers can cache without hashing arrays.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np
import torch

from core import devices
from core.audio import Clip, at_rate, background_noise, fit_length, noise_floor
from core.checkpoint import Card
from core.errors import ConfigError
from core.explain import methods as registry
from core.explain.maps import AttributionMap
from core.explain.sonify import FocusSettings, focus_clip, griffin_lim_audio, keep_and_remove, top_fraction_mask
from core.explain.subject import Subject, model_lock
from core.explain.windows import explain_in_windows, needs_windows
from core.features import FeatureConfig, frontend, num_frames

METHODS = registry.available()
DEFAULT_METHODS = registry.default_methods()
#: The window of a long clip when the card does not say how long the training clips were.
DEFAULT_WINDOW_SECONDS = 3.0


@dataclass(frozen=True)
class Settings:
    """Every knob of an analysis; part of the cache key.

    ``methods`` holds the settings of the methods that differ from their defaults, as ``{name: settings}`` (or
    pairs); ``of(name)`` reads one method's settings, ``with_method(name, ...)`` changes them.
    """

    target: int | None = None  # None: the predicted class
    methods: tuple[tuple[str, Any], ...] = ()  # (method name, its settings dataclass), sorted, defaults left out
    focus: FocusSettings = FocusSettings()
    keep_fraction: float = 0.2  # share of the map kept by the phase-preserving versions
    griffin_lim_iters: int = 32  # 0: no Griffin-Lim version; otherwise at least 32
    audio: bool = True  # build and re-score the audio versions

    def __post_init__(self):
        if self.griffin_lim_iters and self.griffin_lim_iters < 32:
            raise ConfigError(f"Griffin-Lim needs at least 32 iterations to be worth hearing (got "
                              f"{self.griffin_lim_iters}); use 32 or more, or 0 to leave it out.")
        if not 0 < self.keep_fraction <= 1:
            raise ConfigError(f"keep_fraction is the share of the map kept, in (0, 1]; got {self.keep_fraction}.")
        pairs = self.methods.items() if isinstance(self.methods, Mapping) else self.methods
        checked = {name: registry.settings_for(name, value) for name, value in pairs}
        defaults = {name: registry.method_spec(name).settings() for name in checked}
        object.__setattr__(self, "methods", tuple(sorted((n, v) for n, v in checked.items() if v != defaults[n])))

    def of(self, name: str) -> Any:
        """Method ``name``'s settings (its defaults unless changed)."""
        return dict(self.methods).get(name) or registry.settings_for(name)

    def with_method(self, name: str, value: Any = None, **changes) -> "Settings":
        """These settings with method ``name``'s replaced by ``value`` and/or changed by ``changes``."""
        new = registry.settings_for(name, value if value is not None else self.of(name), **changes)
        return replace(self, methods={**dict(self.methods), name: new})

    def only(self, names: Sequence[str], **changes) -> "Settings":
        """These settings keeping only the given methods' (the rest at defaults), with ``changes``."""
        kept = {n: v for n, v in self.methods if n in names}
        return replace(self, methods=kept, **changes)

    def to_dict(self) -> dict:
        """Plain data, with every registered method's settings (defaults included), for keys and provenance."""
        return asdict(self) | {"methods": {name: asdict(self.of(name)) for name in registry.available()}}


@dataclass(frozen=True)
class AudioVersion:
    name: str  # "original", "focus", "complement", "<method>-keep", "<method>-remove", "griffin-lim"
    wave: torch.Tensor
    probabilities: np.ndarray
    description: str


@dataclass(frozen=True, eq=False)
class Analysis:
    clip_sha256: str
    model_hash: str
    labels: tuple[str, ...]
    cfg: FeatureConfig
    spectrogram: np.ndarray  # (bands, frames) model input
    frame_times: np.ndarray
    band_hz: np.ndarray
    probabilities: np.ndarray  # (classes,)
    target: int
    maps: dict[str, AttributionMap]
    time_curves: dict[str, np.ndarray]  # per method: attribution summed over bands, per frame
    audio: dict[str, AudioVersion]
    focus_gate: np.ndarray | None  # S3 gate per sample (0..1), for drawing under the waveform
    focus_curve: np.ndarray | None
    sr: int
    timings: dict[str, float]
    settings: Settings
    attention: np.ndarray | None = None  # (frames,) for attention models
    clip_offset: float = 0.0  # seconds of padding before the clip's first sample (short clips are padded)
    clip_duration: float | None = None  # seconds of the clip itself; the model input may be longer (padding)
    padding: str = "zeros"  # how the model pads short clips (its card's training.padding)
    errors: dict[str, str] = field(default_factory=dict)  # method -> message, for methods that could not run
    window_seconds: float | None = None  # a long clip's maps were stitched from windows this long (None: whole clip)

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def predicted_label(self) -> str:
        return self.labels[self.predicted]

    @property
    def clip_seconds(self) -> float:
        """The clip's own length in seconds (for an analysis without ``clip_duration``: the model input's
        length less the padding on both sides)."""
        if self.clip_duration is not None:
            return float(self.clip_duration)
        original = self.audio.get("original")
        total = original.wave.shape[-1] / self.sr if original is not None else float(self.frame_times[-1])
        return max(0.0, total - 2 * self.clip_offset)

    def on_clip(self, times: np.ndarray) -> tuple[slice, np.ndarray]:
        """Which of ``times`` (ascending seconds on the model input's timeline: ``frame_times``, or sample
        times) lie on the clip itself, and those times on the clip's own timeline (0 = its first sample).

        A short clip is padded to the model's length; a figure drawn on the clip's own time axis crops the
        padding with ``values[..., window]`` and plots against the returned times.
        """
        times = np.asarray(times, dtype=float)
        start, eps = self.clip_offset, 1e-9
        lo = int(np.searchsorted(times, start - eps, side="left"))
        hi = int(np.searchsorted(times, start + self.clip_seconds + eps, side="right"))
        return slice(lo, hi), times[lo:hi] - start

    def subject(self, model) -> Subject:
        """This clip's model input as a ``Subject`` of ``model`` (on the model's device), for the checks
        in ``core.explain.evaluate`` that re-run the model on it."""
        features = torch.as_tensor(self.spectrogram, device=next(model.parameters()).device)
        return Subject(model, features, self.cfg, self.labels, self.padding)


def cache_key(clip_sha256: str, model_hash: str, methods: Sequence[str], settings: Settings) -> str:
    payload = json.dumps([clip_sha256, model_hash, sorted(methods), settings.to_dict()], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def model_input(clip: Clip, cfg: FeatureConfig, seconds: float | None, device: torch.device,
                padding: str = "zeros") -> tuple[torch.Tensor, torch.Tensor, int]:
    """The waveform the model hears, its features and the sample where the clip starts in it: the whole clip
    (every model here pools over time), padded about the centre to the length the model was trained on when it
    is shorter, the way it was padded in training (``core.audio.PADDINGS``)."""
    wave, start = clip.wave.to(device), 0
    if seconds:
        wave, start = fit_length(wave, max(wave.shape[-1], int(round(seconds * cfg.sample_rate))), padding,
                                 sr=cfg.sample_rate)
    with torch.no_grad():
        return wave, frontend(cfg, device)(wave), start


def _rescore(model, cfg: FeatureConfig, waves: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Model probabilities for each audio version, all in one batch."""
    names = list(waves)
    with model_lock(model), torch.no_grad():
        feats = frontend(cfg, next(iter(waves.values())).device)(torch.stack([waves[n] for n in names]))
        probs = torch.softmax(model(feats), dim=-1).cpu().numpy()
    return dict(zip(names, probs))


def analyze(clip: Clip, model, card: Card | Mapping[str, Any], methods: Sequence[str] | None = None,
            settings: Settings = Settings(), device: str = "auto",
            progress: Callable[[str, float], None] | None = None) -> Analysis:
    """Explain ``clip`` with ``model`` (from ``core.checkpoint.load``).

    ``card`` (a ``core.checkpoint.Card`` or its ``to_dict()``) supplies the labels, the feature
    config, the clip length the model was trained on and the weights hash. ``methods`` are names from
    ``core.explain.methods`` (None: the registry's defaults this model supports). ``progress``
    is called as ``progress(step, fraction)``. A method that cannot run on this model (e.g.
    Grad-CAM on an LSTM) is reported in ``errors`` instead of failing the whole analysis. A clip more than
    ``windows.LONG_CLIP_FACTOR`` times the training length is explained window by window (``core.explain.windows``):
    the prediction is the whole clip's, each map is stitched from windows of the training length.
    """
    methods = registry.defaults_for(model) if methods is None else tuple(methods)
    for method in methods:
        registry.method_spec(method)  # unknown names fail here, before any work
    labels, cfg, seconds, model_hash, padding = card_fields(card)
    clip = at_rate(clip, cfg.sample_rate)  # clips load at 16 kHz; S3's paper front end runs at 48 kHz
    target_device = devices.for_model(model, device)
    report = progress or (lambda step, fraction: None)
    timings: dict[str, float] = {}

    started = time.perf_counter()
    wave, features, clip_start = model_input(clip, cfg, seconds, target_device, padding)
    subject = Subject(model, features, cfg, labels, padding)
    probabilities = subject.probabilities(features[None])[0].cpu().numpy()
    target = int(np.argmax(probabilities)) if settings.target is None else int(settings.target)
    if not 0 <= target < len(labels):
        raise ConfigError(f"Target class {target} does not exist; this model knows {len(labels)} classes: {labels}.")
    timings["features+forward"] = time.perf_counter() - started

    maps: dict[str, AttributionMap] = {}
    errors: dict[str, str] = {}
    window = num_frames(int(round((seconds or DEFAULT_WINDOW_SECONDS) * cfg.sample_rate)), cfg)
    windowed = needs_windows(features.shape[-1], window)
    for method in methods:
        report(method, 0.0)
        started = time.perf_counter()
        step = lambda f, m=method: report(m, f)  # noqa: E731
        try:
            maps.update(explain_in_windows(method, subject, target, settings.of(method), window, step) if windowed
                        else registry.explain(method, subject, target, settings.of(method), progress=step))
        except ConfigError as e:
            errors[method] = str(e)
        timings[method] = time.perf_counter() - started
        report(method, 1.0)
    attention = maps["attention"].time_profile() if "attention" in maps else None

    audio: dict[str, AudioVersion] = {}
    gate = curve = None
    if settings.audio:
        started = time.perf_counter()
        audio, gate, curve = _audio_versions(subject, wave, maps, settings)
        timings["audio"] = time.perf_counter() - started

    return Analysis(
        clip_sha256=clip.sha256, model_hash=model_hash, labels=tuple(labels), cfg=cfg,
        spectrogram=features.cpu().numpy(), frame_times=subject.frame_times, band_hz=subject.band_hz,
        probabilities=probabilities, target=target, maps=maps,
        time_curves={name: m.time_profile() for name, m in maps.items()},
        audio=audio, focus_gate=gate, focus_curve=curve, sr=cfg.sample_rate, timings=timings,
        settings=settings, attention=attention, errors=errors,
        clip_offset=clip_start / cfg.sample_rate, clip_duration=clip.duration, padding=padding,
        window_seconds=window * cfg.hop_length / cfg.sample_rate if windowed else None,
    )


def add_audio(analysis: Analysis, clip: Clip, model, card: Card | Mapping[str, Any], settings: Settings,
              device: str = "auto") -> Analysis:
    """``analysis`` (maps computed, e.g. with ``Settings(audio=False)``) with its audio versions built from its maps
    under ``settings`` (focus, keep share, Griffin-Lim): a cheap second step that re-runs no attribution, only one
    batched forward that re-scores the versions. So a change of the listening settings never recomputes a map."""
    if clip.sha256 != analysis.clip_sha256:
        raise ConfigError(f"add_audio: the clip ({clip.sha256[:12]}) is not the analysed one ({analysis.clip_sha256[:12]}).")
    labels, cfg, seconds, _, padding = card_fields(card)
    wave, _, _ = model_input(clip, cfg, seconds, devices.for_model(model, device), padding)
    subject = analysis.subject(model)
    started = time.perf_counter()
    audio, gate, curve = _audio_versions(subject, wave, analysis.maps, settings)
    timings = {**analysis.timings, "audio": time.perf_counter() - started}
    kept = replace(analysis.settings, focus=settings.focus, keep_fraction=settings.keep_fraction,
                   griffin_lim_iters=settings.griffin_lim_iters, audio=True)
    return replace(analysis, audio=audio, focus_gate=gate, focus_curve=curve, timings=timings, settings=kept)


class CardFields(NamedTuple):
    """What an analysis needs from a model card."""

    labels: list[str]
    cfg: FeatureConfig
    seconds: float | None  # the clip length the model was trained on
    model_hash: str
    padding: str  # how a shorter clip is padded to ``seconds`` (core.audio.PADDINGS)


def card_fields(card: Card | Mapping[str, Any]) -> CardFields:
    if isinstance(card, Mapping):
        card = Card.from_dict(card)
    if not card.labels or card.features is None:
        raise ConfigError("The model card lacks its labels or feature configuration; re-save the checkpoint with them.")
    return CardFields(list(card.labels), card.features, (card.training or {}).get("seconds"), card.weights_sha256,
                      card.padding)


def _audio_versions(subject: Subject, wave: torch.Tensor, maps: dict[str, AttributionMap], settings: Settings):
    cfg = subject.cfg
    waves = {"original": wave}
    descriptions = {"original": "the clip as the model hears it"}
    gate = curve = None
    if "gradcam" in maps:
        focus = focus_clip(wave, cfg.sample_rate, maps["gradcam"], settings.focus)
        waves["focus"], waves["complement"] = focus.focus, focus.complement
        descriptions["focus"] = "focus clip (Kim & Kwak, S3): the time region Grad-CAM points at"
        descriptions["complement"] = "everything except the focus region"
        gate, curve = focus.gate, focus.curve
    for name, m in maps.items():
        if name.startswith("gradcam-"):
            continue  # branch maps: the combined Grad-CAM speaks for them
        keep, remove = keep_and_remove(wave, cfg, m, settings.keep_fraction)
        waves[f"{name}-keep"], waves[f"{name}-remove"] = keep, remove
        share = f"top {settings.keep_fraction:.0%} of the {name} map"
        descriptions[f"{name}-keep"] = f"only the {share} (phase kept): sufficiency"
        descriptions[f"{name}-remove"] = f"all but the {share} (phase kept): comprehensiveness"
    source = "gradcam" if "gradcam" in maps else next((n for n in maps if not n.startswith("gradcam-")), None)
    if source and settings.griffin_lim_iters:
        mask = top_fraction_mask(maps[source].values, settings.keep_fraction)
        waves["griffin-lim"] = griffin_lim_audio(wave, cfg, mask, maps[source].frame_times, settings.griffin_lim_iters)
        descriptions["griffin-lim"] = f"{source} keep-only mel spectrogram inverted by Griffin-Lim (phase re-estimated)"
    if subject.padding == "noise-floor":  # what a version removes becomes the recording's background, as padding did
        floor = noise_floor(wave, cfg.sample_rate)
        generator = torch.Generator().manual_seed(0)
        for name in [n for n in waves if n != "original"]:
            waves[name] = waves[name] + background_noise(waves[name], floor, generator)
    scores = _rescore(subject.model, cfg, waves)
    audio = {n: AudioVersion(n, w.detach().cpu(), scores[n], descriptions[n]) for n, w in waves.items()}
    return audio, gate, curve
