"""Corpus rows -> fixed-length waveforms -> labelled features, batched on a device.

Workers decode and validate audio (``ClipDataset``); features are computed afterwards on the
device in batches (``core.features.Frontend``), so a GPU does the STFTs, not the loaders.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from core import devices
from core.audio import PADDINGS, fit_length, load_audio
from core.data.corpora import Manifest
from core.errors import AudioError, CorpusError
from core.features import FeatureConfig, frontend


class ClipDataset(Dataset):
    """``(wave, label_index, clip_start, clip_samples)`` per manifest row: each wave is cropped or padded about
    its centre (S0) with ``padding`` (``core.audio.PADDINGS``), and the clip's span inside it is returned."""

    def __init__(self, manifest: Manifest, labels: Sequence[str] | None = None, *, seconds: float = 3.0,
                 sample_rate: int = 16_000, max_seconds: float = 600.0, padding: str = "zeros"):
        if len(manifest) == 0:
            raise CorpusError(f"The corpus at '{manifest.root}' has no clips; check the folder or the filters used.")
        self.rows = manifest.rows
        self.labels = list(labels) if labels is not None else manifest.labels()
        unknown = sorted({row.label for row in self.rows} - set(self.labels))
        if unknown:
            raise CorpusError(f"Labels {unknown} are in the corpus but not in the model's labels {self.labels}.")
        if padding not in PADDINGS:
            raise CorpusError(f"padding={padding!r}: use one of {', '.join(PADDINGS)}.")
        self.n_samples = int(round(seconds * sample_rate))
        self.sample_rate = sample_rate
        self.padding = padding
        self.max_seconds = max_seconds

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int, int]:
        row = self.rows[i]
        try:
            clip = load_audio(row.path, self.sample_rate, self.max_seconds)
        except AudioError as e:  # one bad file in thousands: say which, and what to do
            raise AudioError(f"{e} (file: {row.path}). Fix or remove that file, or leave it out of the manifest, "
                             "then run again.") from None
        wave, start = fit_length(clip.wave, self.n_samples, self.padding, sr=self.sample_rate)
        return wave, self.labels.index(row.label), start, min(clip.wave.shape[-1], self.n_samples)


def labelled_features(manifest: Manifest, cfg: FeatureConfig, *, labels: Sequence[str] | None = None,
                      seconds: float = 3.0, batch_size: int = 32, device: str = "auto", workers: int = 0,
                      progress: bool = True) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Features ``(N, bands, frames)``, label indices ``(N,)`` and the label names for a corpus."""
    dataset = ClipDataset(manifest, labels, seconds=seconds, sample_rate=cfg.sample_rate)
    target = devices.resolve(device)
    front = frontend(cfg, target)
    features, indices = [], []
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    with torch.no_grad():
        for waves, ys, *_ in tqdm(loader, desc="features", unit="batch", disable=not progress):
            features.append(front(waves.to(target)).cpu())
            indices.append(ys)
    return torch.cat(features), torch.cat(indices), dataset.labels
