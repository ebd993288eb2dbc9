"""S3: VGGish + YAMNet feature fusion (Kim & Kwak, Appl. Sci. 2024).

Per 96x64 patch, three levels are fused by concatenating, along channels, a VGGish map and a YAMNet
map of the same spatial size (sizes at width 1, rows = frames, columns = bands):

    level  VGGish             YAMNet           fused
    1      pool2 24x16x128    layer4 24x16x128  24x16x256
    2      pool3 12x8x256     layer6 12x8x256   12x8x512
    3      pool4 6x4x512      layer12 6x4x512   6x4x1024

The paper names the VGGish maps ("each pooling layer, except for the first pooling layer", with their
sizes) but not YAMNet's: the YAMNet layers 4/6/12 are *our inference*, the layers whose outputs have the
same size and channels (layer 12 is the last of layers 7-12, which all give 6x4x512), not the paper's text.

The head, by ``vggish_pool``:

* ``"global"`` (the default, ours; the shipped demo checkpoint has it): each fused map is globally
  average-pooled, the three vectors are concatenated (1792-d at width 1).
* ``"none"`` (the paper's: for VGGish "a global pooling layer is not applied to preserve the spatial
  feature information in the time-frequency domain", while YAMNet uses "a global pooling layer before the
  classification layer"): per level, the VGGish map flattened (channels, rows, columns) and the YAMNet map
  globally pooled, all concatenated (49152 + 128 + 24576 + 256 + 12288 + 512 = 86912-d at width 1).
  Concatenating YAMNet's pooled vector broadcast over the VGGish positions along channels (the paper's
  "depth-combining") would feed the first Linear the same function class, so the vectors are joined directly.

Either vector goes through a head Linear -> ReLU -> Dropout -> Linear to the patch logits; the clip's
logits are the mean over its patches.

One front end feeds both branches: the "vggish" preset. YAMNet's own front end
(``core.features.PRESETS["yamnet"]``) differs only in the log offset (0.001 vs 0.01) and the patch
hop (0.48 s vs 0.96 s); ``VGGISH_PARAMS`` and ``YAMNET_PARAMS`` below keep both, and the model cuts
patches with ``patch_hop`` (VGGish's 96 frames by default).

``input_norm`` (off by default, as in the paper, whose trunks start from pretrained weights):
a per-band BatchNorm of the log-mel input, shared by both branches, before the patches are cut.
VGGish has no normalisation layer at all, so trained from scratch on raw log-mel values (about
-4.6 .. +3) it learns slowly; standardising each band is the usual remedy (like the sequence
models' ``input_norm``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from core.features import PRESETS
from core.models.base import PatchModel, PatchParts
from core.models.checks import check_bool, check_choice, check_float, check_int
from core.models.layers import ClassifierHead
from core.models.registry import register_model
from core.models.spec import ModelSpec
from core.models.vggish import VGGISH_POOL_TAPS, VGGishTrunk
from core.models.yamnet import YAMNetTrunk

VGGISH_PARAMS = PRESETS["vggish"]
YAMNET_PARAMS = PRESETS["yamnet"]
BRANCHES = ("vggish", "yamnet")
VGGISH_POOLS = ("global", "none")  # the head's VGGish part: pooled (ours), or flattened (the paper's)


@dataclass(frozen=True)
class FusionLevel:
    vggish_index: int  # index in VGGishTrunk.features whose output is taken
    yamnet_layer: int  # YAMNet layer (1-based) whose output is taken
    label: str


# S3 Section 4.1: VGGish "each pooling layer, except for the first" (pool2/3/4); YAMNet 4/6/12: ours (see above).
FUSION_LEVELS: tuple[FusionLevel, ...] = (
    FusionLevel(VGGISH_POOL_TAPS["pool2"], 4, "pool2+layer4"),
    FusionLevel(VGGISH_POOL_TAPS["pool3"], 6, "pool3+layer6"),
    FusionLevel(VGGISH_POOL_TAPS["pool4"], 12, "pool4+layer12"),
)


def _channels_at(features: nn.Sequential, index: int) -> int:
    """Channels of ``features[index]``'s output: those of the last conv up to it."""
    return [m for m in features[: index + 1] if isinstance(m, nn.Conv2d)][-1].out_channels


def _positions_at(features: nn.Sequential, index: int, frames: int, bands: int) -> int:
    """Rows x columns of ``features[index]``'s output for a ``frames x bands`` patch: each 2x2 max pool up to it
    halves both (the 3x3 convs keep the size)."""
    n_pools = sum(isinstance(m, nn.MaxPool2d) for m in features[: index + 1])
    return (frames >> n_pools) * (bands >> n_pools)


# Grad-CAM layers: the deepest *fused* maps, VGGish pool4 (features.15) and YAMNet layer 12, both 6 x 4 per patch,
# so the two branch maps share one grid and add. The VGGish model alone uses its last conv activation
# (features.14, before pool4), the usual Grad-CAM layer, at twice that resolution.
FUSION_SPEC = ModelSpec(
    name="fusion", paper="S3", input_kind="patch", feature_preset="vggish",
    cam_layers=("vggish_branch.features.15", "yamnet_branch.layer12"), eca_taps=(), has_attention=False,
    min_frames=1,
    description="S3 (Kim & Kwak, Appl. Sci. 2024): VGGish pool2/3/4 + YAMNet layer 4/6/12 maps fused "
    "per level, pooled, classifier head; clip = mean of patch logits",
)


class FusionModel(PatchModel):
    default_spec = FUSION_SPEC

    def __init__(self, num_classes: int, width: float, hidden: int, dropout: float, patch_hop: int,
                 input_norm: bool = False, vggish_pool: str = "global"):
        super().__init__()
        self.patch_hop = patch_hop
        self.vggish_pool = check_choice("vggish_pool", vggish_pool, VGGISH_POOLS)
        self.input_norm = nn.BatchNorm1d(self.bands) if input_norm else nn.Identity()
        self.vggish_branch = VGGishTrunk(width, embeddings=False)
        self.yamnet_branch = YAMNetTrunk(width, n_layers=max(lv.yamnet_layer for lv in FUSION_LEVELS))
        self.level_channels = tuple(
            (_channels_at(self.vggish_branch.features, lv.vggish_index),
             getattr(self.yamnet_branch, f"layer{lv.yamnet_layer}").pointwise_conv.conv.out_channels)
            for lv in FUSION_LEVELS
        )
        # (VGGish, YAMNet) lengths per level in the head's input vector: channels, or channels x positions
        self.level_sizes = tuple(
            (cv if self.vggish_pool == "global"
             else cv * _positions_at(self.vggish_branch.features, lv.vggish_index, self.patch_frames, self.bands), cy)
            for lv, (cv, cy) in zip(FUSION_LEVELS, self.level_channels)
        )
        self.pooled_dim = sum(a + b for a, b in self.level_sizes)  # the head's input length
        self.head = ClassifierHead(self.pooled_dim, num_classes, hidden=hidden, dropout=dropout)
        self.num_features = self.head.num_features

    def patch_input(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        return self.to_patches(self.input_norm(self._check_input(x)))

    def patch_trunk(self, patches: torch.Tensor) -> dict[str, tuple[torch.Tensor, ...]]:
        """``{"vggish": (pool2, pool3, pool4), "yamnet": (layer4, layer6, layer12)}``, each map ``(B * P, C, h,
        w)`` (rows = frames, columns = bands of the patch); ``forward_features`` gives them as ``(B, P, ...)``."""
        return {"vggish": tuple(self.vggish_branch.taps(patches, [lv.vggish_index for lv in FUSION_LEVELS])),
                "yamnet": tuple(self.yamnet_branch.taps(patches, tuple(lv.yamnet_layer for lv in FUSION_LEVELS)))}

    def adapt_spec(self, spec: ModelSpec) -> ModelSpec:
        if self.vggish_pool == "global":
            return spec
        return replace(spec, description=spec.description.replace(
            "fused per level, pooled", "fused per level, VGGish's flattened (no global pooling, as the paper) and "
            "YAMNet's pooled"))

    def patch_parts(self) -> PatchParts:
        """Each patch's head input vector is all the head needs, so the incremental path carries only that."""
        return PatchParts(cut=self.patch_input, trunk=lambda cut: self.pooled(self.patch_trunk(cut)),
                          head=lambda pooled, p: self._head(self._unflatten(pooled, p), pre_logits=False))

    def fused_maps(self, features: dict[str, tuple[torch.Tensor, ...]]) -> list[torch.Tensor]:
        """The three channel-concatenated maps ``(B, P, Cv + Cy, h, w)``."""
        return [torch.cat([a, b], dim=-3) for a, b in zip(features["vggish"], features["yamnet"])]

    def pooled(self, features: dict[str, tuple[torch.Tensor, ...]]) -> torch.Tensor:
        """The head's input ``(B, P, pooled_dim)`` (``(B * P, pooled_dim)`` for flat maps): the GAP of each fused
        map, concatenated; with ``vggish_pool="none"`` per level the flattened VGGish map and the YAMNet GAP."""
        if self.vggish_pool == "global":
            return torch.cat([m.mean(dim=(-2, -1)) for m in self.fused_maps(features)], dim=-1)
        parts = []
        for v, y in zip(features["vggish"], features["yamnet"]):
            parts += [v.flatten(-3), y.mean(dim=(-2, -1))]
        return torch.cat(parts, dim=-1)

    def _head(self, pooled: torch.Tensor, pre_logits: bool) -> torch.Tensor:
        b, p = pooled.shape[:2]
        emb = self.head(pooled.flatten(0, 1), pre_logits=True).reshape(b, p, -1).mean(1)
        return emb if pre_logits else self.head.fc(emb)

    def forward_head(self, features: dict[str, tuple[torch.Tensor, ...]], pre_logits: bool = False) -> torch.Tensor:
        return self._head(self.pooled(features), pre_logits)

    def branch_mask(self, branch: str) -> torch.Tensor:
        """1 where the head's input vector holds ``branch``'s features, 0 elsewhere (``(pooled_dim,)``)."""
        if branch not in BRANCHES:
            raise ValueError(f"branch must be one of {BRANCHES}, not {branch!r}")
        parts = []
        for cv, cy in self.level_sizes:
            parts += [torch.full((cv,), float(branch == "vggish")), torch.full((cy,), float(branch == "yamnet"))]
        return torch.cat(parts)

    def branch_logits(self, x: torch.Tensor, branch: str) -> torch.Tensor:
        """Logits from one branch alone: the shared head applied with the other branch's part of its
        input set to zero. An ablation of the trained fusion model (cheap, one forward), not a
        separately trained single-branch classifier."""
        mask = self.branch_mask(branch).to(device=x.device, dtype=x.dtype)
        return self._head(self.pooled(self.forward_features(x)) * mask, pre_logits=False)


@register_model(
    FUSION_SPEC,
    demo={"width": 0.25, "hidden": 64},
)
def fusion(num_classes: int, *, width: float = 1.0, hidden: int = 256, dropout: float = 0.3,
           patch_hop: int = VGGISH_PARAMS.patch_hop_frames, input_norm: bool = False,
           vggish_pool: str = "global") -> FusionModel:
    return FusionModel(
        num_classes,
        width=check_float("width", width, 0.0, 4.0, low_open=True),
        hidden=check_int("hidden", hidden, minimum=0),
        dropout=check_float("dropout", dropout, 0.0, 1.0),
        patch_hop=check_int("patch_hop", patch_hop),
        input_norm=check_bool("input_norm", input_norm),
        vggish_pool=vggish_pool,  # checked by FusionModel
    )
