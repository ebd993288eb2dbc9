"""The protocol of ``serwb train`` as one library call: ``train(manifest, cfg, out_dir, ...) -> Trained``.

Which clips judge the model, in this order:

1. the corpus has a ``split`` column: train on ``split == "train"``, report ``split == "test"``;
2. ``folds == 1``: a speaker holdout (about ``test_size`` of the speakers, ``core.data.splits.holdout``), or with
   ``holdout="random"`` a random split of the clips (``test_size`` of each emotion's clips; S2's 80/20, S3's 85/15);
3. ``folds > 1``: k-fold cross-validation on every clip (speaker-independent with ``grouped``; named by
   ``cv.protocol_name``, e.g. leave-one-speaker-out), optionally with the eGeMAPS + SVM baseline on the same folds.

Then the final model trains on the training clips (with early stopping: a watched training speaker, or after
cross-validation the folds' median best epoch), is evaluated on the held-out clips, and its card's metrics record
the whole report, which ``out_dir/metrics.json`` holds too.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from core import checkpoint, jsonsafe
from core.data.corpora import Manifest
from core.data.splits import has_split, holdout as speaker_holdout
from core.errors import ConfigError, CorpusError
from core.training import distributed
from core.training.cv import cross_validate, final_epochs, validation_split
from core.training.loop import TrainConfig, TrainResult, evaluate, fit

BASELINES = ("egemaps",)
HOLDOUTS = ("speaker", "random")  # what folds == 1 holds out: speakers, or clips at random


@dataclasses.dataclass
class Trained:
    """What ``train`` returns: the final model (``result``) and the report its card and metrics.json hold."""

    result: TrainResult
    report: dict


def split_for(manifest: Manifest, folds: int, seed: int = 0, holdout_kind: str = "speaker",
              test_size: float = 0.2) -> tuple[Manifest, Manifest | None, str | None]:
    """(training clips, held-out clips or None, protocol name or None when the folds name it)."""
    if has_split(manifest):
        train, test = manifest.filter(split="train"), manifest.filter(split="test")
        if not len(train):
            raise CorpusError(f"The corpus at {manifest.root} has a split column but no 'train' rows; fix the column.")
        return train, test, "split column: train on split == train, report split == test"
    if folds == 1 and holdout_kind == "random":
        train_idx, test_idx = random_holdout(manifest, test_size, seed)
        share = round(100 * test_size)
        return (manifest.take(train_idx), manifest.take(test_idx),
                f"random {100 - share}/{share} split of the clips, stratified by emotion (speakers on both sides)")
    if folds == 1:
        train_idx, test_idx = speaker_holdout(manifest, test_size=test_size, seed=seed)
        return (manifest.take(train_idx), manifest.take(test_idx),
                f"speaker holdout (about {round(100 * test_size)}% of the speakers held out)")
    return manifest, None, None


def random_holdout(manifest: Manifest, test_size: float = 0.2, seed: int = 0):
    """(train, test) row indices: ``test_size`` of the clips drawn at random, stratified by emotion (scikit-learn)."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    labels = [row.label for row in manifest.rows]
    try:
        return train_test_split(np.arange(len(labels)), test_size=test_size, random_state=seed, stratify=labels)
    except ValueError as e:
        raise CorpusError(f"A random {test_size:.0%} holdout of {len(labels)} clips, stratified by emotion, is not "
                          f"possible ({e}); use more clips per emotion or the speaker holdout.") from None


def train(manifest: Manifest, cfg: TrainConfig, out_dir: str | Path, *, folds: int = 1, grouped: bool = False,
          holdout: str = "speaker", test_size: float = 0.2, baseline: str | None = None, resume: bool = False,
          progress: bool = True, log: Callable[[str], None] | None = None, preset: dict | None = None) -> Trained:
    """Train ``cfg.model`` on ``manifest`` by the protocol above; ``log`` receives the lines ``serwb train`` prints.

    The report (card metrics and metrics.json) records every setting used (``settings``) and ``preset``, the
    named paper preset the settings came from and what the user overrode (``core.presets``), when given.
    """
    if not isinstance(folds, int) or folds < 1:
        raise ConfigError(f"folds={folds!r}: use 1 (one train/test split) or k >= 2 for k-fold cross-validation.")
    if holdout not in HOLDOUTS or not 0 < test_size < 1:
        raise ConfigError(f"holdout={holdout!r}, test_size={test_size!r}: hold out 'speaker's or 'random' clips, "
                          "a share between 0 and 1 (e.g. 0.2).")
    if baseline is not None and baseline not in BASELINES:
        raise ConfigError(f"baseline={baseline!r}: the peer baseline is one of {', '.join(BASELINES)}.")
    if baseline and folds < 2:
        raise ConfigError("The baseline is scored on the cross-validation folds; use it with folds >= 2.")
    out_dir = Path(out_dir)
    ctx = distributed.context(cfg.device)
    say = (log or (lambda line: None)) if ctx.is_main else (lambda line: None)
    train_set, test, protocol = split_for(manifest, folds, cfg.seed, holdout, test_size)
    labels = train_set.labels()
    report: dict = {"protocol": protocol} | ({"preset": preset} if preset else {})
    report["settings"] = {"training": cfg.to_dict(), "folds": folds, "grouped": grouped, "holdout": holdout,
                          "test_size": test_size}

    if folds > 1:
        cv = cross_validate(train_set, cfg, folds, grouped, out_dir=out_dir / "cv", labels=labels, resume=resume,
                            progress=progress)
        report["cv"] = cv
        report["protocol"] = protocol or f"{cv['protocol']}; final model trained on every clip"
        if baseline == "egemaps" and ctx.is_main:
            from core.baseline import egemaps_features, evaluate_baseline

            features = egemaps_features(train_set, progress=progress)  # once, for the plain and normalised runs
            base = evaluate_baseline(train_set, folds, grouped, cfg.seed, progress=progress, features=features)
            report["baseline"] = base
            say(f"eGeMAPS + SVM baseline on the same folds: UA {base['mean']['UA']:.3f} +- {base['std']['UA']:.3f}"
                f" (model: {cv['mean']['UA']:.3f} +- {cv['std']['UA']:.3f}; chance {1 / len(labels):.3f})")
            if "unadapted" in cv:  # the adapted model's peer: the baseline normalised by each speaker's clips too
                normed = evaluate_baseline(train_set, folds, grouped, cfg.seed, progress=progress, features=features,
                                           speaker_norm=True)
                report["baseline_speaker_norm"] = normed
                say(f"eGeMAPS + SVM with each speaker's features standardised by that speaker's clips: UA "
                    f"{normed['mean']['UA']:.3f} +- {normed['std']['UA']:.3f}")
        adapted = "unadapted" in cv
        say(f"{folds}-fold CV{' (speaker-independent)' if grouped else ''}"
            + (", each test speaker adapted to (AdaBN)" if adapted else "") + ": "
            + ", ".join(f"{k} {cv['mean'][k]:.3f} +- {cv['std'][k]:.3f}" for k in ("UA", "WA", "ACC")))
        if adapted:
            plain = cv["unadapted"]
            say("the same folds clip by clip, with the trained statistics (as the pages predict one clip): "
                + ", ".join(f"{k} {plain['mean'][k]:.3f} +- {plain['std'][k]:.3f}" for k in ("UA", "WA", "ACC")))

    final_cfg, val = cfg, None
    if cfg.patience and folds > 1:  # every clip trains: as many epochs as the folds' early stopping chose
        final_cfg = dataclasses.replace(cfg, epochs=final_epochs(report["cv"]), patience=0)
        report["final_epochs"] = {"epochs": final_cfg.epochs, "from": "median best epoch of the folds' early "
                                  "stopping, each on a held-out training speaker"}
        say(f"final model: {final_cfg.epochs} epochs (median best epoch of the folds)")
    elif cfg.patience:
        train_set, val = validation_split(train_set)
    result = fit(train_set, final_cfg, out_dir, labels=labels, resume=resume, progress=progress, val_manifest=val)
    for loaded in (result.card.training or {}).get("pretrained_weights") or []:
        say(f"pretrained {loaded['branch']} weights from {loaded['path']}: {loaded['loaded']} tensors "
            f"loaded into {loaded['into']}, {loaded['ignored']} ignored (not in the model)")
    gds = result.card.extra.get("gds")
    if gds:
        report["gds"] = gds  # totals and per_file: each training clip's segments and how many were kept
        say(f"Gaussian data selection (threshold {gds['threshold']}, {gds.get('scope', 'emotion')}): kept {gds['kept']} of "
            f"{gds['segments']} training segments, dropped {gds['dropped']}")
    if test is not None and len(test):
        held = evaluate(result.model, test, card=result.card, device=next(result.model.parameters()).device,
                        workers=cfg.workers)
        report["held_out"] = held
        if held.get("gds"):  # S3: the held-out clips were selected as the training clips were (per_file: each clip)
            say(f"Gaussian data selection on the held-out clips: kept {held['gds']['kept']} of "
                f"{held['gds']['segments']} segments, dropped {held['gds']['dropped']}")
        say(f"held-out ({len(test)} clips): UA {held['UA']:.3f}, WA {held['WA']:.3f}, ACC {held['ACC']:.3f}")
    if ctx.is_main:
        card = dataclasses.replace(result.card, metrics=dict(result.card.metrics) | report)
        result.card = checkpoint.save(result.model, card, result.path)
        (out_dir / "metrics.json").write_text(jsonsafe.dumps(report) + "\n", encoding="utf-8")
        say(f"wrote {result.path}")
    return Trained(result, report)
