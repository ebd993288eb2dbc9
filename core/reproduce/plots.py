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

from core.reproduce.studies import Study

PLOTS = ("sweeps", "eca", "tsne", "confusions", "gds", "profiles")
MODEL_PLOTS = ("eca", "tsne", "profiles")
MAX_CLIPS = 300  # clips the model plots analyse (Grad-CAM on every clip: minutes on a CPU)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def sweep_figures(results: Sequence[dict]) -> dict[str, Figure]:
    """One figure per sweep of two or more runs: our UA (mean ± sd) per setting, the paper's UA beside it."""
    from core.figures import sweep_figure

    sweeps: dict[str, list[dict]] = {}
    for r in results:
        sweeps.setdefault(r["sweep"], []).append(r)
    figures = {}
    for sweep, rows in sweeps.items():
        if len(rows) < 2:
            continue
        ua = np.array([100 * r["scores"]["mean"]["UA"] for r in rows])
        sd = np.array([100 * (r["scores"]["std"]["UA"] or 0.0) for r in rows])
        paper: dict[str, list[tuple[int, float]]] = {}
        for j, r in enumerate(rows):
            for corpus, values in r["paper"].items():
                if "UA" in values:  # percent, or 0-1 as S3 writes recall
                    paper.setdefault(corpus, []).append((j, values["UA"] * (100 if values["UA"] <= 1 else 1)))
        figures[f"sweep-{slug(sweep)}"] = sweep_figure(sweep, [r["setting"] for r in rows], ua, sd, paper)
    return figures


def confusion_figures(results: Sequence[dict]) -> dict[str, Figure]:
    """Each run's confusion matrix (summed over folds)."""
    from core.figures import confusion_figure

    return {f"confusion-{r['run']}": confusion_figure(np.asarray(r["scores"]["confusion"]), r["scores"]["labels"],
                                                       title=f"{r['setting']} ({r['run']})") for r in results}


def gds_figures(results: Sequence[dict]) -> dict[str, Figure]:
    """Per run with Gaussian data selection: how many of each file's segments were kept."""
    from core.figures import segments_kept_figure

    figures = {}
    for r in results:
        per_file = (r.get("gds") or {}).get("per_file")
        if per_file:
            figures[f"gds-{r['run']}"] = segments_kept_figure(
                f"GDS ({r['run']})", np.array([f["kept"] for f in per_file]), np.array([f["segments"] for f in per_file]))
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
