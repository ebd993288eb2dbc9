"""Dataset-level analysis: one pass over a corpus gives everything the Dataset and ECA pages draw.

Per clip we run the model once for probabilities and its embedding, record ECA gates when the
model has them, and explain the *labelled* emotion with the chosen methods (Grad-CAM by
default) for the per-emotion frequency profiles (S3). Over the corpus: confusion matrix and
UA/WA (sklearn-checked metrics), a t-SNE of the embeddings (S1), per-emotion ECA channel
weights (S0) and, when the corpus has planted-cue clips, the localisation table.

Clips that cannot be decoded are listed in ``skipped`` with their reason instead of failing the
run; clips whose label the model does not know are predicted but left out of the metrics.
"""

from __future__ import annotations

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
from core.errors import AudioError, CorpusError
from core.explain.analysis import Settings, analyze, card_fields
from core.explain.subject import model_lock
from core.explain.eca import EcaProfile, eca_profiles
from core.explain.tables import localisation_table
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
                settings: Settings = Settings()) -> str:
    """Cache key: the clip list (paths and sizes), the weights hash and the settings."""
    rows = [(str(r.path), r.label, r.path.stat().st_size if r.path.exists() else -1) for r in manifest.rows]
    payload = json.dumps([rows, card.weights_sha256, sorted(methods), max_clips, settings.to_dict()], sort_keys=True,
                         default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def analyze_dataset(model, card: Card, manifest: Manifest, *, methods: Sequence[str] = ("gradcam",),
                    device: str = "auto", max_clips: int | None = None, settings: Settings = Settings(),
                    progress: Progress | None = None) -> DatasetAnalysis:
    """Analyse every clip of ``manifest`` (planted-cue rows only feed the localisation table)."""
    report = progress or (lambda fraction, message: None)
    rows = [r for r in manifest.rows if r.extra.get("split") != "cue"][:max_clips]
    if not rows:
        raise CorpusError(f"No clips to analyse in {manifest.root}: the folder or manifest lists no audio.")
    labels, cfg = card_fields(card)[:2]
    target_device = devices.for_model(model, device)
    label_index = {name: i for i, name in enumerate(labels)}
    settings = replace(settings, audio=False)

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
        analysis = analyze(clip, model, card, methods=methods, settings=explain_settings, device=target_device)
        features = torch.as_tensor(analysis.spectrogram, device=target_device)[None]
        with model_lock(model), torch.no_grad():
            embeddings.append(model.embed(features)[0].float().cpu().numpy())
        paths.append(str(row.path))
        true.append(y)
        if y < 0:
            unknown_paths.setdefault(row.label, []).append(str(row.path))
        probs.append(analysis.probabilities)
        features_seen.append((features, y))
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
        eca = eca_profiles(model, [(f, [y]) for f, y in features_seen if y >= 0], labels)

    localisation = None
    if any(r.extra.get("cue_start") for r in manifest.rows):
        report(0.88, "localisation on the planted-cue clips")
        table = localisation_table(model, card, manifest, methods=methods, settings=settings, device=target_device,
                                   progress=lambda f: report(0.88 + 0.08 * f, "localisation on the planted-cue clips"))
        localisation = [{"method": name} | row for name, row in table.items()]

    report(0.97, "t-SNE of the embeddings")
    layout = tsne(emb)
    report(1.0, "done")  # only now: t-SNE can take seconds on a busy machine
    return DatasetAnalysis(
        labels=tuple(labels), paths=paths, true=true_arr, predicted=predicted, probabilities=prob_arr,
        confusion=confusion, metrics=metrics, embeddings=emb, tsne=layout, band_hz=band_hz,
        frequency_profiles={m: {k: np.mean(v, axis=0) for k, v in per.items()} for m, per in profiles.items()},
        eca=eca, localisation=localisation, skipped=skipped, key=dataset_key(manifest, card, methods, max_clips),
        unknown_paths=dict(sorted(unknown_paths.items())),
    )


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
