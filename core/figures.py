"""Matplotlib figures that more than one output draws: the confusion matrix of ``serwb evaluate``'s PNG and of the
Dataset export's PDF. Built on ``matplotlib.figure.Figure`` (no pyplot state), so worker threads can draw them."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure


def confusion_figure(confusion, labels: Sequence[str], title: str = "") -> Figure:
    """A labelled confusion matrix (rows: true emotion, columns: predicted), counts written in the cells, on the
    colour-blind-safe cividis scale."""
    counts = np.asarray(confusion)
    labels = list(labels)
    fig = Figure(figsize=(1.2 + 0.9 * len(labels), 1.0 + 0.8 * len(labels)), dpi=110, layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(counts, cmap="cividis")
    fig.colorbar(image, ax=ax, label="clips")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted emotion")
    ax.set_ylabel("true emotion")
    if title:
        ax.set_title(title, fontsize=9)
    top = counts.max() if counts.size else 0
    for (i, j), n in np.ndenumerate(counts):  # cividis is dark at the bottom of its range: white text there
        ax.text(j, i, str(int(n)), ha="center", va="center", color="white" if n < top / 2 else "black")
    return fig
