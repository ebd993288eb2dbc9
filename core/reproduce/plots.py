"""The plots each paper draws, from our runs: sweeps (S0's Figs. 6-11), per-emotion ECA weights (S0), t-SNE of the
embedding (S1), confusion matrices (S2), segments kept by GDS and Grad-CAM frequency profiles (S3).

Plots of a trained model (eca, tsne, profiles) explain the study's main run's final model on the corpus with
``core.explain.dataset.analyze_dataset``, the workbench's Dataset analysis, and draw with ``core.figures``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from core.explain.colours import OKABE_ITO
from core.reproduce.studies import Study

PLOTS = ("sweeps", "eca", "tsne", "confusions", "gds", "profiles")
MODEL_PLOTS = ("eca", "tsne", "profiles")
MAX_CLIPS = 300  # clips the model plots analyse (Grad-CAM on every clip: minutes on a CPU)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def sweep_figures(results: Sequence[dict]) -> dict[str, Figure]:
    """One figure per sweep of two or more runs: our UA (mean ± sd) per setting, the paper's UA beside it."""
    figures = {}
    sweeps: dict[str, list[dict]] = {}
    for r in results:
        sweeps.setdefault(r["sweep"], []).append(r)
    for sweep, rows in sweeps.items():
        if len(rows) < 2:
            continue
        fig = Figure(figsize=(max(5.0, 0.9 * len(rows) + 2), 3.6), dpi=110, layout="constrained")
        ax = fig.subplots()
        x = np.arange(len(rows))
        ua = np.array([100 * r["scores"]["mean"]["UA"] for r in rows])
        sd = np.array([100 * (r["scores"]["std"]["UA"] or 0.0) for r in rows])
        ax.errorbar(x, ua, yerr=sd, marker="o", capsize=3, color=OKABE_ITO[0], label="ours (UA, mean ± sd)")
        corpora = list(dict.fromkeys(c for r in rows for c in r["paper"] if "UA" in r["paper"][c]))
        for i, corpus in enumerate(corpora):
            points = [(j, r["paper"][corpus]["UA"]) for j, r in enumerate(rows) if "UA" in r["paper"].get(corpus, {})]
            values = [v * (100 if v <= 1 else 1) for _, v in points]
            ax.scatter([j for j, _ in points], values, marker="s", color=OKABE_ITO[(i + 1) % len(OKABE_ITO)],
                       label=f"paper, {corpus} (UA)", zorder=3)
        ax.set_xticks(x, [r["setting"] for r in rows], rotation=30 if len(rows) > 4 else 0, ha="right"
                      if len(rows) > 4 else "center", fontsize=8)
        ax.set_ylabel("UA (%)")
        ax.set_title(sweep, fontsize=10)
        ax.legend(fontsize=8)
        figures[f"sweep-{slug(sweep)}"] = fig
    return figures


def confusion_figures(results: Sequence[dict]) -> dict[str, Figure]:
    """Each run's confusion matrix (summed over folds)."""
    from core.figures import confusion_figure

    return {f"confusion-{r['run']}": confusion_figure(np.asarray(r["scores"]["confusion"]), r["scores"]["labels"],
                                                       title=f"{r['setting']} ({r['run']})") for r in results}


def gds_figures(results: Sequence[dict]) -> dict[str, Figure]:
    """Per run with Gaussian data selection: how many of each file's segments were kept."""
    figures = {}
    for r in results:
        per_file = (r.get("gds") or {}).get("per_file")
        if not per_file:
            continue
        kept = np.array([f["kept"] for f in per_file])
        total = np.array([f["segments"] for f in per_file])
        fig = Figure(figsize=(6, 3.4), dpi=110, layout="constrained")
        ax = fig.subplots()
        ax.hist(kept / np.maximum(total, 1), bins=np.linspace(0, 1, 11), color=OKABE_ITO[0], edgecolor="white")
        ax.set_xlabel("share of the file's segments kept")
        ax.set_ylabel("files")
        ax.set_title(f"GDS ({r['run']}): kept {int(kept.sum())} of {int(total.sum())} segments", fontsize=10)
        figures[f"gds-{r['run']}"] = fig
    return figures


def model_figures(study: Study, out_dir: Path, manifest, wanted: Sequence[str]) -> dict[str, Figure]:
    """The plots of the main run's final model on the corpus (at most ``MAX_CLIPS`` clips)."""
    from core import checkpoint
    from core.explain.dataset import analyze_dataset
    from core.figures import eca_figure, profiles_figure, tsne_figure

    model, card = checkpoint.load(out_dir / "runs" / study.main / "model", device="cpu")
    needs_cam = "profiles" in wanted and model.spec.cam_layers
    analysis = analyze_dataset(model, card, manifest, methods=("gradcam",) if needs_cam else (), device="cpu",
                               max_clips=MAX_CLIPS)
    figures = {}
    if "tsne" in wanted and analysis.tsne is not None:
        figures["tsne"] = tsne_figure(analysis)
    if "eca" in wanted:
        for tap, profile in (analysis.eca or {}).items():
            figures[f"eca-{slug(tap)}"] = eca_figure(profile)
    if needs_cam:
        figures["profiles-gradcam"] = profiles_figure(analysis, "gradcam")
    return figures


def draw(study: Study, results: Sequence[dict], out_dir: Path, manifest) -> list[Path]:
    """Every plot the study asks for, as ``out_dir/plots/<name>.png``; the paths written."""
    figures: dict[str, Figure] = {}
    if "sweeps" in study.plots:
        figures |= sweep_figures(results)
    if "confusions" in study.plots:
        figures |= confusion_figures(results)
    if "gds" in study.plots:
        figures |= gds_figures(results)
    wanted = [p for p in study.plots if p in MODEL_PLOTS]
    if wanted and any(r["run"] == study.main for r in results):
        figures |= model_figures(study, out_dir, manifest, wanted)
    folder = out_dir / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures.items():
        path = folder / f"{name}.png"
        fig.savefig(path)
        paths.append(path)
    return paths
