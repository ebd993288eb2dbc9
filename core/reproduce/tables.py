"""A study's results as the paper's tables with our numbers beside the paper's: ``results.md`` and ``results.json``.

One Markdown table per sweep (the paper's table or figure it re-runs); ours in percent for UA, WA and ACC and
0-1 for F1 (mean ± sd over folds), the paper's values as the paper writes them, labelled with the paper's corpus,
so that nobody reads our corpus' numbers as the paper's.
"""

from __future__ import annotations

from typing import Sequence

from core import presets
from core.reproduce.studies import Study

PERCENT = ("UA", "WA", "ACC")


def _ours(scores: dict, metric: str) -> str:
    mean, sd = scores["mean"][metric], scores["std"][metric]
    scale, digits = (100, 1) if metric in PERCENT else (1, 3)
    text = f"{mean * scale:.{digits}f}"
    return text + (f" ± {sd * scale:.{digits}f}" if sd is not None else "")


def _paper(values: dict) -> str:
    parts = []
    for key, value in values.items():
        if key == "params":
            parts.append(f"{value:,} params")
        elif key == "GFLOPs":
            parts.append(f"{value:g} GFLOPs")
        elif key == "train_min":
            parts.append(f"{value:g} min")
        else:
            parts.append(f"{key} {value:g}")
    return " · ".join(parts)


def _epochs(result: dict) -> str:
    """Epochs trained, with the preset's count beside it when a budget (--epochs, --quick) changed it."""
    trained = result["settings"]["training"]["epochs"]
    preset = presets.get(result["preset"]["name"]).epochs
    return str(trained) if trained == preset else f"{trained} (preset: {preset})"


def _sweeps(results: Sequence[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for result in results:
        groups.setdefault(result["sweep"], []).append(result)
    return groups


def markdown(study: Study, results: Sequence[dict], corpus: dict, quick: bool = False,
             epochs: int | None = None) -> str:
    """The whole ``results.md``: a heading naming both corpora, one table per sweep, then the notes."""
    lines = [f"# serwb reproduce {study.name}: {study.title}", "",
             f"**Ours**: {corpus['name']} ({corpus['clips']} clips, {corpus['speakers']} speakers; "
             f"{', '.join(corpus['labels'])}). **The paper's**: {study.corpora}. Different corpora and "
             "languages: compare the trends along each sweep, not the values across the two columns.", ""]
    if quick:
        lines += ["**Quick smoke run** (one epoch, demo-sized models, short clips): these numbers only show "
                  "that every step runs. Do not report them.", ""]
    if epochs is not None:
        lines += [f"Runs trained here for **{epochs} epochs** instead of the preset's count (column epochs).", ""]
    protocols = sorted({r["scores"]["protocol"] for r in results})
    lines += [f"Protocol (ours): {'; '.join(protocols)}.", ""]
    for sweep, rows in _sweeps(results).items():
        corpora = list(dict.fromkeys(c for r in rows for c in r["paper"]))
        header = (["run", "setting", "UA %", "WA %", "ACC %", "F1", "parameters", "GFLOPs / clip", "epochs",
                   "min / model"]
                  + [f"paper: {c}" for c in corpora])
        lines += [f"## {sweep}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for r in rows:
            cells = [f"`{r['run']}`", r["setting"], *(_ours(r["scores"], m) for m in ("UA", "WA", "ACC", "F1")),
                     f"{r['cost']['params']:,}", f"{r['cost']['flops'] / 1e9:.3g}", _epochs(r),
                     f"{r['training']['minutes_per_model']:.2f}"]
            cells += [_paper(r["paper"].get(c, {})) for c in corpora]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    device = sorted({f"{r['training']['device']} ({r['training']['threads']} threads)" for r in results})
    lines += ["GFLOPs: torch's flop counter on one clip of the run's length (2 per multiply-add). Minutes per "
              f"model: wall time of the run over its trainings (folds + final model), on {', '.join(device)}.", ""]
    lines += [f"- {note}" for note in study.notes]
    return "\n".join(lines) + "\n"


def summary(study: Study, results: Sequence[dict], corpus: dict, quick: bool, epochs: int | None) -> dict:
    """``results.json``: the study, our corpus, every run's result (scores, cost, time, the paper's values)."""
    return {"study": study.name, "title": study.title, "paper_corpora": study.corpora, "corpus": corpus,
            "quick": quick, "epochs_override": epochs, "notes": list(study.notes), "runs": list(results)}
