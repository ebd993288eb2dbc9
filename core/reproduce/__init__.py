"""``serwb reproduce s0|s1|s2|s3 --corpus ROOT``: a paper's protocol, sweeps included, on a corpus of yours, with
our numbers beside the paper's.

    from core.reproduce import reproduce
    out = reproduce("s2", load_manifest("assets/polish"), "build/reproduce/s2", quick=True)
    print(out["markdown"])                    # also out_dir/results.md; results.json; plots/*.png

``core.reproduce.studies`` says what each paper ran and reported, ``runner`` trains the runs (resumable: a
finished run is read back, a stopped one resumes from its last epoch), ``measure`` gives parameters and FLOPs,
``tables`` the Markdown and JSON, ``plots`` the paper's figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from core import jsonsafe
from core.checkpoint import write_text_atomically
from core.data.corpora import Manifest
from core.reproduce import plots, tables
from core.reproduce.runner import run_study
from core.reproduce.studies import STUDIES, Run, Study, study


def corpus_summary(manifest: Manifest) -> dict:
    """What the tables say about our corpus: its name, root, clips, speakers, labels."""
    return {"name": manifest.corpus, "root": str(manifest.root), "clips": len(manifest),
            "speakers": len(manifest.speakers()), "labels": manifest.labels()}


def reproduce(paper: str, manifest: Manifest, out_dir: str | Path, *, quick: bool = False, epochs: int | None = None,
              only: tuple[str, ...] = (), progress: bool = True, log: Callable[[str], None] | None = None) -> dict:
    """Run ``paper``'s study on ``manifest`` into ``out_dir``; write results.md, results.json and plots/.

    Returns ``{"results": [...], "markdown": str, "plots": [paths]}``. ``quick``: the study's smoke runs (one
    epoch, demo-sized models); ``epochs`` overrides every run's epoch count (recorded in the tables);
    ``only`` restricts to the named runs.
    """
    chosen = study(paper)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = run_study(chosen, manifest, out_dir, quick=quick, epochs=epochs, only=only, progress=progress, log=log)
    corpus = corpus_summary(manifest)
    text = tables.markdown(chosen, results, corpus, quick, epochs)
    write_text_atomically(out_dir / "results.md", text)
    write_text_atomically(out_dir / "results.json",
                          jsonsafe.dumps(tables.summary(chosen, results, corpus, quick, epochs)) + "\n")
    drawn = plots.draw(chosen, results, out_dir, manifest)
    return {"results": results, "markdown": text, "plots": drawn}


__all__ = ["reproduce", "study", "STUDIES", "Study", "Run", "corpus_summary"]
