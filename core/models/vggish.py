"""VGGish (Hershey et al., ICASSP 2017; tensorflow/models research/audioset/vggish) as S3 uses it.

Trunk: 3x3 convs (padding 1) + ReLU and 2x2 max pools, ``64, M, 128, M, 256, 256, M, 512, 512, M``,
on a ``(1, 96 frames, 64 bands)`` patch; optional embedding head 12288 -> 4096 -> 4096 -> 128.
Parameter names follow the PyTorch conversion harritaylor/torchvggish (``features.{0,3,6,8,11,13}``,
``embeddings.{0,2,4}``) so its public state dict loads with ``VGGishTrunk.load_state_dict(...,
strict=True)`` (or ``load_reference`` on the classifier). No weights are downloaded here.

Differences from torchvggish that do not touch the names: ReLUs are not in-place (backward hooks
need that), there is no ReLU after the 128-d embedding (the TF reference's ``fc2`` has no
activation; torchvggish adds one), and the PCA post-processor is not part of the model.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from core.features import PRESETS
from core.models.base import PatchModel
from core.models.checks import check_bool, check_float, check_int
from core.models.layers import ClassifierHead, load_trunk_strict, scaled
from core.models.registry import register_model
from core.models.spec import ModelSpec

# vggish_slim.py: conv1 64, pool1, conv2 128, pool2, conv3 256 x2, pool3, conv4 512 x2, pool4.
VGGISH_LAYER_DEFS: tuple[int | str, ...] = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M")
# vggish_slim.py: fc1 4096 x2, fc2 EMBEDDING_SIZE = 128 (the 128 stays at every width).
VGGISH_EMBEDDING_DEFS: tuple[int, ...] = (4096, 4096)
VGGISH_EMBEDDING_SIZE = 128
# Indices in ``features`` of the pool2 / pool3 / pool4 outputs (24x16x128, 12x8x256, 6x4x512 at width 1).
VGGISH_POOL_TAPS: dict[str, int] = {"pool2": 5, "pool3": 10, "pool4": 15}


class VGGishTrunk(nn.Module):
    """``features`` (+ ``embeddings``) with the torchvggish names; input ``(N, 1, 96, 64)``."""

    def __init__(self, width: float = 1.0, embeddings: bool = True):
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 1
        for v in VGGISH_LAYER_DEFS:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                out_ch = scaled(v, width)
                layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.ReLU()]
                in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.out_channels = in_ch
        self.embeddings = None
        if embeddings:
            n_pool = VGGISH_LAYER_DEFS.count("M")
            flat = in_ch * (96 >> n_pool) * (64 >> n_pool)  # 512 * 6 * 4 = 12288 at width 1
            dims = [flat, *(scaled(d, width) for d in VGGISH_EMBEDDING_DEFS), VGGISH_EMBEDDING_SIZE]
            emb: list[nn.Module] = []
            for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
                emb.append(nn.Linear(a, b))
                if i < len(dims) - 2:
                    emb.append(nn.ReLU())
            self.embeddings = nn.Sequential(*emb)
        self.embedding_size = VGGISH_EMBEDDING_SIZE if embeddings else in_ch

    def taps(self, x: torch.Tensor, indices: Sequence[int]) -> list[torch.Tensor]:
        """Outputs of ``features[i]`` for each ``i`` in ``indices`` (running up to the largest)."""
        wanted, out = set(indices), {}
        for i, layer in enumerate(self.features[: max(indices) + 1]):
            x = layer(x)
            if i in wanted:
                out[i] = x
        return [out[i] for i in indices]

    def embed_map(self, fmap: torch.Tensor) -> torch.Tensor:
        """``(N, C, 6, 4)`` -> the embedding ``(N, 128)``, flattening in TF's (H, W, C) order."""
        return self.embeddings(fmap.permute(0, 2, 3, 1).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fmap = self.features(x)
        return self.embed_map(fmap) if self.embeddings is not None else fmap


def reference_state_dict_shapes(width: float = 1.0, embeddings: bool = True) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the torchvggish state dict (width 1) this trunk loads."""
    return {k: tuple(v.shape) for k, v in VGGishTrunk(width, embeddings).state_dict().items()}


# Grad-CAM layer: the last conv activation (features.14, before pool4); fusion uses the pooled map it fuses
# (see core.models.fusion).
VGGISH_SPEC = ModelSpec(
    name="vggish", paper="S3", input_kind="patch", feature_preset="vggish",
    cam_layers=("features.14",), eca_taps=(), has_attention=False, min_frames=1,
    description="S3 (Kim & Kwak, Appl. Sci. 2024) VGGish branch alone: VGG trunk on 96x64 patches, "
    "classifier head, clip = mean of patch logits",
)


class VGGishClassifier(PatchModel):
    """VGGish trunk (+ embeddings) + a classifier head per patch; clip logits = mean over patches."""

    default_spec = VGGISH_SPEC

    def __init__(self, num_classes: int, width: float, embeddings: bool, hidden: int, dropout: float, patch_hop: int):
        super().__init__()
        self.patch_hop = patch_hop
        trunk = VGGishTrunk(width, embeddings)
        # The trunk's modules sit directly on this model so its names are torchvggish's.
        self.features = trunk.features
        self.embeddings = trunk.embeddings
        self.trunk_keys = tuple(trunk.state_dict())
        self.head = ClassifierHead(trunk.embedding_size, num_classes, hidden=hidden, dropout=dropout)
        self.num_features = self.head.num_features

    def patch_trunk(self, patches: torch.Tensor) -> torch.Tensor:
        """pool4 maps ``(B * P, C, 6, 4)`` (rows = frames / 16, columns = bands / 16)."""
        return self.features(patches)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        b, p = features.shape[:2]
        fmap = features.flatten(0, 1)
        if self.embeddings is not None:
            vec = self.embeddings(fmap.permute(0, 2, 3, 1).flatten(1))
        else:
            vec = fmap.mean(dim=(2, 3))
        emb = self.head(vec, pre_logits=True).reshape(b, p, -1).mean(1)  # mean logits = fc(mean embedding)
        return emb if pre_logits else self.head.fc(emb)

    def load_reference(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Load a torchvggish-style state dict (``features.*``, ``embeddings.*``) into the trunk,
        strictly: every trunk tensor must be present with its shape and nothing else may be."""
        load_trunk_strict(self, self.trunk_keys, state_dict, "VGGish")


@register_model(
    VGGISH_SPEC,
    demo={"width": 0.25, "embeddings": False, "hidden": 64},
)
def vggish(num_classes: int, *, width: float = 1.0, embeddings: bool = True, hidden: int = 256,
           dropout: float = 0.3, patch_hop: int = PRESETS["vggish"].patch_hop_frames) -> VGGishClassifier:
    return VGGishClassifier(
        num_classes,
        width=check_float("width", width, 0.0, 4.0, low_open=True),
        embeddings=check_bool("embeddings", embeddings),
        hidden=check_int("hidden", hidden, minimum=0),
        dropout=check_float("dropout", dropout, 0.0, 1.0),
        patch_hop=check_int("patch_hop", patch_hop),
    )
