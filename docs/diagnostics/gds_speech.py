"""Which segments does S3's Gaussian data selection drop on short words? (README, "S3 ... on the Polish corpus")

S3's preset pads each Polish word (0.48-1.63 s) with zeros to 3 s and cuts its log-mel spectrogram into six 0.96 s
patches (hop 0.48 s); GDS (per clip, T = -1) then keeps the patches whose Gaussians correlate best with the clip's
others. This prints how much of the word the dropped and the kept patches hold, from the word's span within the
padded clip. Run from the repository root: ``.venv/bin/python docs/diagnostics/gds_speech.py [CORPUS]``.
"""

import sys
from pathlib import Path

import numpy as np
import torch

from core.data.corpora import load_manifest
from core.data.selection import item_scores, select_items
from core.features import frontend, patches, preset
from core.presets import PRESETS
from core.training.loop import decode

S3 = PRESETS["s3"]
FEATURES = preset(S3.features)
FRAMES, HOP = FEATURES.patch_frames, S3.model_cfg["patch_hop"]  # patch length and hop, in frames


def main(root: str = "assets/polish") -> None:
    manifest = load_manifest(Path(root))
    decoded = decode(manifest, sorted({r.label for r in manifest.rows}), seconds=S3.seconds, padding=S3.padding)
    front = frontend(FEATURES)
    with torch.no_grad():
        features = torch.cat([front(decoded.waves[i:i + 64]) for i in range(0, len(decoded.waves), 64)])
    cut = patches(features, FRAMES, HOP)
    kept = select_items(item_scores(cut), S3.gds_threshold).keep.numpy()
    speech = np.zeros(kept.shape)  # share of each patch's frames inside the word
    for i, (start, length) in enumerate(decoded.spans.tolist()):
        first, last = start / FEATURES.hop_length, (start + length) / FEATURES.hop_length
        for p in range(kept.shape[1]):
            speech[i, p] = max(0.0, min(p * HOP + FRAMES, last) - max(p * HOP, first)) / FRAMES
    print(f"{len(kept)} clips x {kept.shape[1]} patches: {(~kept).sum()} dropped, {kept.sum()} kept")
    for name, chosen in (("dropped", speech[~kept]), ("kept", speech[kept])):
        print(f"{name}: {(chosen > 0).mean():.3f} hold part of the word (mean share {chosen.mean():.3f}), "
              f"{(chosen == 0).mean():.3f} are padding only")
    worded = speech > 0
    lost = sum(not kept[i, speech[i].argmax()] for i in range(len(kept)))
    print(f"patches holding part of the word dropped: {(worded & ~kept).sum()} of {worded.sum()}; "
          f"clips losing the patch that holds most of their word: {lost} of {len(kept)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
