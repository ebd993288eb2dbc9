"""Dataset-level analysis: one pass over a corpus gives everything the Dataset and ECA pages draw.

Per clip we run the model once for probabilities and its embedding, record ECA gates when the
model has them, and explain the *labelled* emotion with the chosen methods (Grad-CAM by
default) for the per-emotion frequency profiles (S3). Over the corpus: confusion matrix and
UA/WA (sklearn-checked metrics), a t-SNE of the embeddings (S1), per-emotion ECA channel
weights (S0) and, when the corpus has planted-cue clips, the localisation table.

Clips that cannot be decoded are listed in ``skipped`` with their reason instead of failing the
run; clips whose label the model does not know are predicted but left out of the metrics.

With ``adapt_speakers`` every figure is the speaker-adapted model's (``core.training.adapt``, AdaBN), as
``core.training.loop.evaluate`` scores a model trained with ``speaker_batches``: each named speaker with at least
``MIN_CLIPS`` analysed clips gets a copy of the model with BatchNorm statistics of those clips (labels unused),
and that copy predicts, explains, embeds and gates (ECA) each of the speaker's clips, and explains the speaker's
planted-cue clips for the localisation table; every other clip gets the trained model.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from core import devices
from core.audio import load_audio
from core.checkpoint import Card
from core.data.corpora import Manifest
from core.errors import AudioError, ConfigError, CorpusError
from core.explain.analysis import Settings, analyze, card_fields
from core.explain.subject import model_lock
from core.explain.eca import EcaProfile, eca_profiles
from core.explain.tables import cue_rows, localisation_by_emotion, localisation_results, summarise_localisation
from core.training import adapt
from core.training.loop import decode, trained_speaker_clips
from core.training.metrics import confusion_matrix, summary

Progress = Callable[[float, str], None]


@dataclass(frozen=True, eq=False)
class DatasetAnalysis:
    labels: tuple[str, ...]
    paths: list[str]  # clips analysed, in manifest order
    true: np.ndarray  # (N,) label index, -1 where the model does not know the label
    predicted: np.ndarray  # (N,)
    probabilities: np.ndarray  # (N, C)
    confusion: np.ndarray  # (C, C), rows true, columns predicted (known labels only)
    metrics: dict  # UA, WA, ACC, per-class recall (known labels only)
    embeddings: np.ndarray  # (N, D) penultimate layer
    tsne: np.ndarray | None  # (N, 2); None for fewer than 5 clips
    band_hz: np.ndarray  # (bands,) centre of each band of the model's input
    frequency_profiles: dict[str, dict[str, np.ndarray]]  # method -> label -> (bands,) mean attribution
    eca: dict[str, EcaProfile] | None  # ECA tap -> per-emotion gates; None without ECA blocks
    localisation: list[dict] | None  # one row per method on the planted-cue clips; None without them
    skipped: dict[str, str]  # path -> why it could not be analysed
    key: str
    #: label the model has no class for -> its clips (``true`` is -1 there): predicted, shown, never scored
    unknown_paths: dict[str, list[str]] = field(default_factory=dict)
    #: ``core.training.adapt.report`` when each speaker's clips were analysed by a model adapted to that speaker
    adaptation: dict | None = None
    #: ``{speaker: clips}`` analysed of speakers the model was trained on: their scores are not speaker-independent
    trained_speakers: dict[str, int] = field(default_factory=dict)
    #: the same per planted emotion ({"method", "emotion", ...}), where the cue clips plant several
    localisation_by_emotion: list[dict] = field(default_factory=list)
    #: the clips scored are planted-cue clips (a folder of them alone), each labelled by its planted word's emotion
    cue_scored: bool = False

    def cell(self, true_label: int, predicted_label: int) -> list[str]:
        """The clips in one cell of the confusion matrix (for listening)."""
        hits = (self.true == true_label) & (self.predicted == predicted_label)
        return [p for p, hit in zip(self.paths, hits) if hit]

    @property
    def unknown_labels(self) -> dict[str, int]:
        """Clips per label the model does not know (left out of ``confusion`` and ``metrics``)."""
        return {label: len(paths) for label, paths in self.unknown_paths.items()}

    @property
    def n_unknown(self) -> int:
        return sum(self.unknown_labels.values())

    def unknown_predicted(self) -> dict[str, np.ndarray]:
        """Per unknown label, how often each of the model's classes was predicted ``(C,)``: the extra
        confusion rows that are shown but not scored."""
        index = {p: i for i, p in enumerate(self.paths)}
        return {label: np.bincount([int(self.predicted[index[p]]) for p in paths], minlength=len(self.labels))
                for label, paths in self.unknown_paths.items()}

    def unknown_cell(self, label: str, predicted_label: int) -> list[str]:
        """The clips of an unknown ``label`` predicted as class ``predicted_label`` (for listening)."""
        index = {p: i for i, p in enumerate(self.paths)}
        return [p for p in self.unknown_paths.get(label, []) if self.predicted[index[p]] == predicted_label]


def dataset_key(manifest: Manifest, card: Card, methods: Sequence[str], max_clips: int | None,
                settings: Settings = Settings(), adapt_speakers: bool = False) -> str:
    """Cache key: the clip list (paths, sizes and speakers), the weights hash, the settings and whether to adapt to
    speakers (adapted and trained figures of one corpus differ)."""
    rows = [(str(r.path), r.label, r.speaker, r.path.stat().st_size if r.path.exists() else -1) for r in manifest.rows]
    payload = json.dumps([rows, card.weights_sha256, sorted(methods), max_clips, settings.to_dict(),
                          {"adapt_speakers": bool(adapt_speakers)}], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def clips_to_analyse(manifest: Manifest) -> list:
    """The rows ``analyze_dataset`` predicts and scores: every clip but the planted-cue ones (split "cue"), which
    feed only the localisation table; a folder of planted-cue clips alone (``assets/polish-cue``) is analysed as
    clips of their planted word's emotion as well."""
    return [r for r in manifest.rows if r.extra.get("split") != "cue"] or list(manifest.rows)


def analyze_dataset(model, card: Card, manifest: Manifest, *, methods: Sequence[str] = ("gradcam",),
                    device: str = "auto", max_clips: int | None = None, settings: Settings = Settings(),
                    progress: Progress | None = None, adapt_speakers: bool = False) -> DatasetAnalysis:
    """Analyse every clip of ``manifest`` (``clips_to_analyse``; planted-cue rows feed the localisation table); with
    ``adapt_speakers``, each clip by its speaker's adapted model (module docstring). The shared ``model`` is
    never changed: adapted models are copies."""
    report = progress or (lambda fraction, message: None)
    rows = clips_to_analyse(manifest)[:max_clips]
    if not rows:
        raise CorpusError(f"No clips to analyse in {manifest.root}: the folder or manifest lists no audio.")
    labels, cfg = card_fields(card)[:2]
    target_device = devices.for_model(model, device)
    label_index = {name: i for i, name in enumerate(labels)}
    key = dataset_key(manifest, card, methods, max_clips, settings=settings, adapt_speakers=adapt_speakers)
    settings = replace(settings, audio=False)
    adapted, adaptation = {}, None
    if adapt_speakers:
        report(0.0, "adapting BatchNorm to each speaker")
        adapted, adaptation = adapted_models(model, card, replace(manifest, rows=tuple(rows)), target_device)
    model_of = lambda speaker: adapted.get(speaker, model)  # noqa: E731

    paths, true, probs, embeddings, features_seen, skipped = [], [], [], [], [], {}
    unknown_paths: dict[str, list[str]] = {}
    profiles: dict[str, dict[str, list[np.ndarray]]] = {m: {} for m in methods}
    band_hz = np.zeros(0)
    for i, row in enumerate(rows):
        report(0.85 * i / len(rows), f"clip {i + 1} of {len(rows)}: {row.path.name}")
        try:
            clip = load_audio(row.path)
        except AudioError as e:
            skipped[str(row.path)] = str(e)
            continue
        y = label_index.get(row.label, -1)
        explain_settings = replace(settings, target=y if y >= 0 else None)
        clip_model = model_of(row.speaker)
        analysis = analyze(clip, clip_model, card, methods=methods, settings=explain_settings, device=target_device)
        features = torch.as_tensor(analysis.spectrogram, device=target_device)[None]
        with model_lock(clip_model), torch.no_grad():
            embeddings.append(clip_model.embed(features)[0].float().cpu().numpy())
        paths.append(str(row.path))
        true.append(y)
        if y < 0:
            unknown_paths.setdefault(row.label, []).append(str(row.path))
        probs.append(analysis.probabilities)
        features_seen.append((features, y, clip_model))
        band_hz = analysis.band_hz
        for name, m in analysis.maps.items():
            if name in profiles and y >= 0:  # per-emotion profiles, like the metrics, need a known label
                profiles[name].setdefault(labels[analysis.target], []).append(m.frequency_profile())
    if not paths:
        raise CorpusError(f"None of the {len(rows)} clips in {manifest.root} could be decoded; "
                          f"first problem: {next(iter(skipped.values()))}")

    true_arr, prob_arr = np.asarray(true), np.stack(probs)
    predicted = prob_arr.argmax(axis=1)
    known = true_arr >= 0
    metrics = summary(true_arr[known], predicted[known], labels) if known.any() else {}
    metrics |= {"chance_UA": 1 / len(labels), "n_unknown": int((~known).sum()),  # as core.training.evaluate
                "unknown_labels": {k: len(v) for k, v in sorted(unknown_paths.items())}}
    confusion = confusion_matrix(true_arr[known], predicted[known], num_classes=len(labels))
    emb = np.stack(embeddings)

    eca = None
    if model.spec.eca_taps and known.any():
        report(0.86, "ECA channel weights")
        eca = _eca(features_seen, labels)

    localisation, by_emotion = None, []
    if any(r.extra.get("cue_start") for r in manifest.rows):
        report(0.88, "localisation on the planted-cue clips")
        per_method = _localisation(model_of, card, manifest, methods, settings, target_device,
                                   lambda f: report(0.88 + 0.08 * f, "localisation on the planted-cue clips"))
        localisation = [{"method": name} | row for name, row in summarise_localisation(per_method).items()]
        by_emotion = [{"method": name, "emotion": emotion} | row
                      for (name, emotion), row in localisation_by_emotion(per_method).items()]

    report(0.97, "t-SNE of the embeddings")
    layout = tsne(emb)
    decoded = set(paths)
    analysed = tuple(r for r in rows if str(r.path) in decoded)
    report(1.0, "done")  # only now: t-SNE can take seconds on a busy machine
    return DatasetAnalysis(
        labels=tuple(labels), paths=paths, true=true_arr, predicted=predicted, probabilities=prob_arr,
        confusion=confusion, metrics=metrics, embeddings=emb, tsne=layout, band_hz=band_hz,
        frequency_profiles={m: {k: np.mean(v, axis=0) for k, v in per.items()} for m, per in profiles.items()},
        eca=eca, localisation=localisation, localisation_by_emotion=by_emotion, skipped=skipped, key=key,
        trained_speakers=trained_speaker_clips(card, replace(manifest, rows=analysed)),
        unknown_paths=dict(sorted(unknown_paths.items())), adaptation=adaptation,
        cue_scored=all(r.extra.get("split") == "cue" for r in rows),
    )


def adapted_models(model, card: Card, manifest: Manifest, device: torch.device) -> tuple[dict, dict]:
    """(``{speaker: adapted copy of model}``, ``adapt.report``) for the clips of ``manifest`` that decode, cut and
    padded as the model was trained (``core.training.loop.decode``); clips that do not decode are left to the
    analysis loop, which lists them as skipped."""
    if not adapt.batchnorms(model):
        raise ConfigError(f"This {card.model} model has no BatchNorm layers, so adapting it to each speaker (AdaBN) "
                          "has nothing to adapt; analyse the corpus without speaker adaptation.")
    if all(r.speaker == "unknown" for r in manifest.rows):
        raise CorpusError("Speaker adaptation estimates each speaker's statistics from that speaker's clips, and "
                          f"{manifest.root} names no speakers. Name them (a speaker column in a manifest.csv), or "
                          "analyse without adapting to speakers.")
    rows = tuple(r for r in manifest.rows if _decodes(r.path))
    if not rows:
        return {}, adapt.report([], {})
    seconds = float((card.training or {}).get("seconds") or 3.0)  # as core.training.loop.evaluate reads a card
    data = decode(replace(manifest, rows=rows), None, seconds=seconds, sample_rate=card.features.sample_rate,
                  padding=card.padding)
    speakers = [r.speaker for r in rows]
    with model_lock(model):  # the shared model is copied once, under its lock (no other thread's hooks in it)
        own = copy.deepcopy(model).eval()
    models = adapt.speaker_models(own, data.waves, speakers, card.features, device=device)
    return models, adapt.report(speakers, models)


def _decodes(path) -> bool:
    try:
        load_audio(path)
        return True
    except AudioError:
        return False


def _by_model(items, model_of_item) -> list[tuple[torch.nn.Module, list]]:
    """``items`` grouped by the model that handles each, in first-seen order."""
    groups: dict[int, tuple[torch.nn.Module, list]] = {}
    for item in items:
        chosen = model_of_item(item)
        groups.setdefault(id(chosen), (chosen, []))[1].append(item)
    return list(groups.values())


def _eca(features_seen, labels: Sequence[str]) -> dict[str, EcaProfile]:
    """Per-emotion ECA gates of the known-label clips, each clip gated by the model that analysed it."""
    scored = [(f, y, m) for f, y, m in features_seen if y >= 0]
    parts = [eca_profiles(m, [(f, [y]) for f, y, _ in group], labels)
             for m, group in _by_model(scored, lambda item: item[2])]
    return parts[0] if len(parts) == 1 else _pooled(parts)


def _pooled(parts: list[dict[str, EcaProfile]]) -> dict[str, EcaProfile]:
    """ECA profiles over disjoint sets of clips merged into the profile of all of them (count-weighted mean, and
    the std from the pooled second moment)."""
    pooled = {}
    for tap in parts[0]:
        each = [p[tap] for p in parts]
        count = sum(p.count for p in each)
        n = np.maximum(count, 1)[:, None]
        mean = sum(p.count[:, None] * p.mean for p in each) / n
        square = sum(p.count[:, None] * (p.std ** 2 + p.mean ** 2) for p in each) / n
        pooled[tap] = EcaProfile(tap, each[0].labels, mean, np.sqrt(np.maximum(square - mean ** 2, 0.0)), count)
    return pooled


def _localisation(model_of, card: Card, manifest: Manifest, methods: Sequence[str], settings: Settings,
                  device: torch.device, progress: Callable[[float], None]) -> dict[str, list]:
    """``core.explain.tables.localisation_results`` with each planted-cue clip explained by its speaker's model."""
    cues = cue_rows(manifest).rows
    per_method: dict[str, list] = {}
    done = 0
    for chosen, rows in _by_model(cues, lambda row: model_of(row.speaker)):
        part = localisation_results(chosen, card, replace(manifest, rows=tuple(rows)), methods, settings, device,
                                    lambda f, d=done, n=len(rows): progress((d + f * n) / len(cues)))
        for name, results in part.items():
            per_method.setdefault(name, []).extend(results)
        done += len(rows)
    return per_method


def tsne(embeddings: np.ndarray, seed: int = 0) -> np.ndarray | None:
    """2-D t-SNE (scikit-learn) of the embeddings; perplexity shrinks for small sets."""
    from sklearn.manifold import TSNE

    n = len(embeddings)
    if n < 5:
        return None
    perplexity = float(min(30.0, (n - 1) / 3))
    # One OpenMP thread: on a busy machine scikit-learn's threads fight torch's for the cores (30 s
    # instead of 0.2 s), and for a few hundred points one thread is as fast.
    with threadpool_limits(1, user_api="openmp"):
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
            embeddings.astype(np.float64))
