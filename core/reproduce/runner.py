"""Run a study: each run trains once by its preset's protocol into ``out/runs/<run>/``, and its scores, size,
FLOPs and training time land in ``out/runs/<run>/result.json``, written whole when the run ends. A run with a
result is not trained again, and one stopped half-way resumes from its last epoch checkpoint, so
``serwb reproduce`` can be stopped and started at will.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from core import jsonsafe, models, presets
from core.checkpoint import write_text_atomically
from core.data.corpora import Manifest
from core.errors import ConfigError, CorpusError
from core.reproduce.measure import cost
from core.reproduce.studies import Run, Study
from core.training import TrainConfig, metrics, train
from core.training.loop import FINAL, longest_seconds

RESULT = "result.json"
TIMING = "timing.json"  # wall seconds of each attempt at a run: a stopped and resumed run's time is their sum
METRICS = ("UA", "WA", "ACC", "F1")
# --quick: one epoch of the demo-sized model on about a second of audio, two folds at most: every code path of a
# study, in seconds, on a tiny corpus (the default test suite runs it); never numbers to report.
QUICK_SECONDS = 1.0
QUICK_FOLDS = 2


def _scalar(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def quick_model_cfg(model: str, model_cfg: dict) -> dict:
    """The preset's model at the demo size: a demo setting replaces a size the preset leaves out or sets to a
    number too (n, width, hidden), never a layer list the preset states (the paper's layers stay)."""
    demo = models.demo_config(model)
    return model_cfg | {k: v for k, v in demo.items()
                        if k not in model_cfg or (_scalar(v) and _scalar(model_cfg[k]))}


def run_config(run: Run, quick: bool = False, epochs: int | None = None) -> tuple[TrainConfig, dict, dict]:
    """(TrainConfig, ``train`` protocol keywords, the preset record) of ``run``; ``epochs`` overrides every run's."""
    preset = presets.get(run.preset)
    overrides = dict(run.overrides)
    model = overrides.pop("model", preset.model)
    if model not in models.available():
        raise ConfigError(f"run {run.name!r} trains model {model!r}, which is not registered.")
    base = preset.train_config(**overrides)
    model_cfg = dict(base.model_cfg)
    if model != preset.model:  # another model: keep only the settings it has
        known = models.default_config(model)
        model_cfg = {k: v for k, v in model_cfg.items() if k in known}
    if quick:
        model_cfg = quick_model_cfg(model, model_cfg) | dict(run.overrides.get("model_cfg") or {})
    changes = {"model": model, "model_cfg": model_cfg}
    protocol = preset.protocol()
    if quick:
        changes |= {"epochs": 1, "batch_size": 8, "workers": 0}
        if base.seconds is not None:
            changes["seconds"] = min(base.seconds, QUICK_SECONDS)
        protocol["folds"] = min(protocol["folds"], QUICK_FOLDS)
    if epochs is not None:
        changes["epochs"] = epochs
    cfg = dataclasses.replace(base, **changes)
    record = {"name": preset.name, "paper": preset.paper, "title": preset.title,
              "overrides": jsonsafe.plain(dict(run.overrides)) | ({"quick": True} if quick else {})
              | ({"epochs": epochs} if epochs is not None else {})}
    return cfg, protocol, record


def scores(report: dict) -> dict:
    """Mean and sd of ``METRICS`` over the cross-validation folds, or the held-out split's values (sd None), and
    the confusion matrix summed over the folds."""
    if "cv" in report:
        folds = report["cv"]["folds"]
        mean, std = metrics.mean_std(folds, METRICS)
        confusion = np.sum([f["confusion"] for f in folds], axis=0).tolist()
        return {"protocol": report["cv"]["protocol"], "folds": len(folds), "mean": mean, "std": std,
                "labels": folds[0]["labels"], "confusion": confusion}
    held = report.get("held_out")
    if not held:
        raise CorpusError("The run scored no held-out clips; give the corpus speakers to hold out or use folds.")
    return {"protocol": report["protocol"], "folds": 1, "mean": {k: held[k] for k in METRICS},
            "std": {k: None for k in METRICS}, "labels": held["labels"], "confusion": held["confusion"]}


def run_once(run: Run, manifest: Manifest, folder: Path, quick: bool = False, epochs: int | None = None,
             progress: bool = True) -> dict:
    """Train ``run`` into ``folder`` (resuming a stopped attempt) and write its ``result.json``."""
    cfg, protocol, record = run_config(run, quick, epochs)
    folder.mkdir(parents=True, exist_ok=True)
    attempts = _attempts(folder)
    started = time.perf_counter()
    trained = train(manifest, cfg, folder, resume=True, progress=progress, preset=record, **protocol)
    attempts.append(time.perf_counter() - started)
    write_text_atomically(folder / TIMING, json.dumps(attempts) + "\n")
    seconds = sum(attempts)
    trainings = protocol["folds"] + 1 if protocol["folds"] > 1 else 1
    clip_seconds = cfg.seconds or longest_seconds(manifest)
    result = {
        "run": run.name, "sweep": run.sweep, "setting": run.setting, "preset": record,
        "settings": trained.report["settings"], "scores": scores(trained.report),
        "cost": cost(cfg.model, dict(trained.result.model.config), len(trained.result.labels), cfg.features,
                     clip_seconds) | {"clip_seconds": clip_seconds},
        "training": {"seconds": seconds, "attempts": len(attempts), "trainings": trainings, "minutes_per_model": seconds / 60 / trainings,
                     "device": str(next(trained.result.model.parameters()).device),
                     "threads": torch.get_num_threads()},
        "gds": trained.report.get("gds"), "model": FINAL,
        "paper": jsonsafe.plain(dict(run.paper)), "paper_source": run.source,
    }
    write_text_atomically(folder / RESULT, jsonsafe.dumps(result) + "\n")
    return result


def _attempts(folder: Path) -> list[float]:
    """Seconds of the earlier attempts at this run that ended (a stopped run resumes; its epochs are not redone).
    An attempt killed part-way records nothing, so after a kill the total is a lower bound."""
    try:
        return [float(s) for s in json.loads((folder / TIMING).read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError):
        return []


def load_result(folder: Path) -> dict | None:
    """A finished run's result, or None when the run has not finished (or its file is unreadable)."""
    try:
        return json.loads((folder / RESULT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run_study(study: Study, manifest: Manifest, out_dir: str | Path, *, quick: bool = False,
              epochs: int | None = None, only: tuple[str, ...] = (), progress: bool = True,
              log: Callable[[str], None] | None = None) -> list[dict]:
    """Train every run of ``study`` (``only``: those named) on ``manifest``; finished runs are read, not trained
    again. Returns the results of every finished run of the study, in the study's order (so that runs trained
    by earlier calls, e.g. with another ``only``, stay in the tables)."""
    from tqdm import tqdm

    say = log or (lambda line: None)
    if not len(manifest):
        raise CorpusError(f"The corpus at {manifest.root} has no clips to train on.")
    runs = everything = study.selected(quick)
    if only:
        unknown = sorted(set(only) - {r.name for r in study.runs})
        if unknown:
            raise ConfigError(f"{study.name} has no run(s) {unknown}; its runs: {', '.join(r.name for r in study.runs)}.")
        runs = tuple(r for r in study.runs if r.name in only)
    bar = tqdm(runs, desc=f"reproduce {study.name}", unit="run", disable=not progress)
    for run in bar:
        bar.set_postfix_str(run.name)
        folder = Path(out_dir) / "runs" / run.name
        done = load_result(folder)
        if done is not None:
            say(f"{run.name}: finished earlier (UA {done['scores']['mean']['UA']:.3f}), not trained again")
            continue
        result = run_once(run, manifest, folder, quick, epochs, progress)
        mean = result["scores"]["mean"]
        say(f"{run.name} ({run.setting}): UA {mean['UA']:.3f}, WA {mean['WA']:.3f}, F1 {mean['F1']:.3f}; "
            f"{result['training']['minutes_per_model']:.2f} min per model")
    listed = {run.name for run in everything} | set(only)
    finished = (load_result(Path(out_dir) / "runs" / run.name) for run in study.runs if run.name in listed)
    return [result for result in finished if result is not None]

