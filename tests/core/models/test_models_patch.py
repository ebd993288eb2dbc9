"""S3: VGGish, YAMNet and their fusion on 96 x 64 patches."""

import pytest
import torch
import torch.nn.functional as F

from core import models
from core.errors import CheckpointError
from core.models.vggish import VGGishTrunk
from core.models.yamnet import YAMNET_LAYER_DEFS, Conv2dSame, YAMNetTrunk

# The state dict of harritaylor/torchvggish (vggish-10086976.pth): names and shapes.
TORCHVGGISH_SHAPES = {
    "features.0.weight": (64, 1, 3, 3), "features.0.bias": (64,),
    "features.3.weight": (128, 64, 3, 3), "features.3.bias": (128,),
    "features.6.weight": (256, 128, 3, 3), "features.6.bias": (256,),
    "features.8.weight": (256, 256, 3, 3), "features.8.bias": (256,),
    "features.11.weight": (512, 256, 3, 3), "features.11.bias": (512,),
    "features.13.weight": (512, 512, 3, 3), "features.13.bias": (512,),
    "embeddings.0.weight": (4096, 12288), "embeddings.0.bias": (4096,),
    "embeddings.2.weight": (4096, 4096), "embeddings.2.bias": (4096,),
    "embeddings.4.weight": (128, 4096), "embeddings.4.bias": (128,),
}

# yamnet.py _YAMNET_LAYER_DEFS: (kind, stride, filters)
TF_YAMNET = [("conv", 2, 32), ("sep", 1, 64), ("sep", 2, 128), ("sep", 1, 128), ("sep", 2, 256), ("sep", 1, 256),
             ("sep", 2, 512)] + [("sep", 1, 512)] * 5 + [("sep", 2, 1024), ("sep", 1, 1024)]


def port_yamnet_shapes() -> dict[str, tuple[int, ...]]:
    """Names/shapes of the w-hc/torch_audioset YAMNet port (without its 521-class classifier)."""
    shapes, in_ch = {}, 1

    def bn(prefix, c):
        shapes.update({f"{prefix}.bn.weight": (c,), f"{prefix}.bn.bias": (c,), f"{prefix}.bn.running_mean": (c,),
                       f"{prefix}.bn.running_var": (c,), f"{prefix}.bn.num_batches_tracked": ()})

    for i, (kind, _, out) in enumerate(TF_YAMNET, start=1):
        if kind == "conv":
            shapes[f"layer{i}.fused.conv.weight"] = (out, in_ch, 3, 3)
            bn(f"layer{i}.fused", out)
        else:
            shapes[f"layer{i}.depthwise_conv.conv.weight"] = (in_ch, 1, 3, 3)
            bn(f"layer{i}.depthwise_conv", in_ch)
            shapes[f"layer{i}.pointwise_conv.conv.weight"] = (out, in_ch, 1, 1)
            bn(f"layer{i}.pointwise_conv", out)
        in_ch = out
    return shapes


def fake_state_dict(shapes: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, s in shapes.items():
        if k.endswith("num_batches_tracked"):
            out[k] = torch.tensor(7)
        elif k.endswith("bn.weight"):
            out[k] = torch.ones(s)
        elif k.endswith("running_var"):
            out[k] = torch.rand(s, generator=g) + 0.5
        elif len(s) == 2 and s[1] > 1000:
            out[k] = torch.zeros(s)  # the big Linear layers: cheap to make
        else:
            out[k] = torch.randn(s, generator=g)
    return out


# --------------------------------------------------------------------------- VGGish


@pytest.fixture(scope="module")
def full_vggish():
    torch.manual_seed(0)
    return models.build("vggish", num_classes=4)


def test_vggish_trunk_loads_the_torchvggish_state_dict_strictly(full_vggish):
    with torch.device("meta"):  # names and shapes without the cost of initialising 72 M weights
        trunk = VGGishTrunk(width=1.0, embeddings=True)
    trunk.to_empty(device="cpu")
    assert {k: tuple(v.shape) for k, v in trunk.state_dict().items()} == TORCHVGGISH_SHAPES
    reference = fake_state_dict(TORCHVGGISH_SHAPES)
    trunk.load_state_dict(reference, strict=True)
    full_vggish.load_reference(reference)
    assert torch.equal(full_vggish.features[13].weight, reference["features.13.weight"])
    assert torch.equal(full_vggish.embeddings[4].bias, reference["embeddings.4.bias"])
    with pytest.raises(CheckpointError, match="unexpected"):
        full_vggish.load_reference(reference | {"pproc.pca_means": torch.zeros(128, 1)})
    with pytest.raises(CheckpointError, match="other shapes"):
        models.build("vggish", 4, width=0.5).load_reference(reference)


def test_vggish_flattens_the_pool4_map_in_tf_order_as_torchvggish():
    torch.manual_seed(0)
    trunk = VGGishTrunk(width=0.25, embeddings=True).eval()
    fmap = torch.randn(2, 128, 6, 4)
    # torchvggish: transpose(1, 3) then transpose(1, 2) -> (N, 6, 4, C), then flatten
    expected = trunk.embeddings(fmap.transpose(1, 3).transpose(1, 2).contiguous().view(2, -1))
    torch.testing.assert_close(trunk.embed_map(fmap), expected)
    assert trunk.embeddings[0].in_features == 128 * 6 * 4 and trunk.embeddings[4].out_features == 128


def test_vggish_pool_maps_have_the_papers_sizes():
    trunk = VGGishTrunk(width=1.0, embeddings=False)
    with torch.no_grad():
        maps = trunk.taps(torch.randn(1, 1, 96, 64), [5, 10, 15])
    assert [tuple(m.shape[1:]) for m in maps] == [(128, 24, 16), (256, 12, 8), (512, 6, 4)]


def test_width_shrinks_shapes_not_names(full_vggish):
    small = models.build("vggish", 4, width=0.25)
    assert small.state_dict().keys() == full_vggish.state_dict().keys()
    assert small.features[0].weight.shape == (16, 1, 3, 3)


# --------------------------------------------------------------------------- YAMNet


def test_yamnet_names_and_shapes_follow_the_pytorch_port():
    trunk = YAMNetTrunk(width=1.0)
    shapes = port_yamnet_shapes()
    assert {k: tuple(v.shape) for k, v in trunk.state_dict().items()} == shapes
    reference = fake_state_dict(shapes)
    trunk.load_state_dict(reference, strict=True)
    model = models.build("yamnet", 4)
    model.load_reference(reference)
    assert torch.equal(model.layer7.pointwise_conv.conv.weight, reference["layer7.pointwise_conv.conv.weight"])
    assert len(YAMNET_LAYER_DEFS) == 14


def test_yamnet_batchnorm_is_eps_1e4_with_centre_and_no_scale():
    trunk = YAMNetTrunk(width=0.25)
    bns = [m for m in trunk.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 1 + 2 * 13
    for bn in bns:
        assert bn.eps == 1e-4
        assert not bn.weight.requires_grad and torch.equal(bn.weight, torch.ones_like(bn.weight))
        assert bn.bias.requires_grad
    assert all(m.bias is None for m in trunk.modules() if isinstance(m, torch.nn.Conv2d))
    trainable = {n for n, p in trunk.named_parameters() if p.requires_grad}
    assert not any(n.endswith("bn.weight") for n in trainable)


def test_yamnet_tf_same_padding_sizes():
    trunk = YAMNetTrunk(width=1.0).eval()
    sizes = {}
    hooks = [getattr(trunk, f"layer{i}").register_forward_hook(
        lambda m, inp, out, i=i: sizes.__setitem__(i, tuple(out.shape[1:]))) for i in range(1, 15)]
    try:
        with torch.no_grad():
            trunk(torch.randn(1, 1, 96, 64))
    finally:
        for h in hooks:
            h.remove()
    assert sizes[1] == (32, 48, 32) and sizes[2] == (64, 48, 32)
    assert sizes[3] == sizes[4] == (128, 24, 16)
    assert sizes[5] == sizes[6] == (256, 12, 8)
    assert all(sizes[i] == (512, 6, 4) for i in range(7, 13))
    assert sizes[13] == sizes[14] == (1024, 3, 2)


def test_conv2d_same_pads_the_extra_row_and_column_at_the_end_like_tf():
    torch.manual_seed(0)
    conv = Conv2dSame(1, 2, 3, stride=2)
    for h, w in [(96, 64), (7, 5)]:
        x = torch.randn(1, 1, h, w)
        # TF SAME: total pad = max((ceil(n/s) - 1) * s + k - n, 0), before = total // 2
        pads = []
        for n in (w, h):
            total = max((-(-n // 2) - 1) * 2 + 3 - n, 0)
            pads += [total // 2, total - total // 2]
        expected = F.conv2d(F.pad(x, pads), conv.weight, stride=2)
        out = conv(x)
        assert out.shape[-2:] == (-(-h // 2), -(-w // 2))
        torch.testing.assert_close(out, expected)


# --------------------------------------------------------------------------- fusion


def test_fusion_levels_have_the_papers_shapes_at_width_1():
    torch.manual_seed(0)
    m = models.build("fusion", 4).eval()
    with torch.no_grad():
        feats = m.forward_features(torch.randn(1, 64, 96))
    expected = [(128, 24, 16), (256, 12, 8), (512, 6, 4)]
    assert [tuple(t.shape) for t in feats["vggish"]] == [(1, 1, *s) for s in expected]
    assert [tuple(t.shape) for t in feats["yamnet"]] == [(1, 1, *s) for s in expected]
    assert [tuple(t.shape[2:]) for t in m.fused_maps(feats)] == [(256, 24, 16), (512, 12, 8), (1024, 6, 4)]
    assert m.pooled_dim == 1792 and m.head.fc1.in_features == 1792
    assert m.spec.cam_layers == ("vggish_branch.features.15", "yamnet_branch.layer12")


def test_fusion_branch_logits_zero_the_other_branch():
    torch.manual_seed(0)
    m = models.build("fusion", 4, **models.demo_config("fusion")).eval()
    v, y = m.branch_mask("vggish"), m.branch_mask("yamnet")
    assert torch.equal(v + y, torch.ones(m.pooled_dim)) and v.sum() == m.pooled_dim / 2
    x = torch.randn(2, 64, 150)
    with torch.no_grad():
        pooled = m.pooled(m.forward_features(x))
        for branch, mask in (("vggish", v), ("yamnet", y)):
            out = m.branch_logits(x, branch)
            expected = m.head.fc(m.head(pooled * mask, pre_logits=True).mean(1))
            assert out.shape == (2, 4)
            torch.testing.assert_close(out, expected)


# --------------------------------------------------------------------------- patch handling (all three)


@pytest.mark.parametrize("name", ["vggish", "yamnet", "fusion"])
def test_clip_logits_are_the_mean_of_the_patch_logits(name):
    torch.manual_seed(0)
    m = models.build(name, 4, **models.demo_config(name), patch_hop=96).eval()
    x = torch.randn(2, 64, 96 * 3)
    with torch.no_grad():
        whole = m(x)
        parts = torch.stack([m(x[..., i * 96:(i + 1) * 96]) for i in range(3)]).mean(0)
        assert m.forward_features(x[..., :96])["vggish"][0].shape[1] == 1 if name == "fusion" else \
            m.forward_features(x[..., :96]).shape[1] == 1  # 96 frames = exactly one patch
    torch.testing.assert_close(whole, parts, rtol=1e-4, atol=1e-5)
    assert m.n_patches(96) == 1 and m.n_patches(97) == 2 and m.patch_starts(250) == [0, 96, 192]


def test_patch_defaults_follow_the_feature_presets():
    from core.features import PRESETS

    assert models.build("yamnet", 4, width=0.25).patch_hop == PRESETS["yamnet"].patch_hop_frames == 48
    assert models.build("vggish", 4, width=0.25).patch_hop == PRESETS["vggish"].patch_hop_frames == 96
    assert models.spec("fusion").feature_preset == "vggish"


def test_patch_cam_to_grid_places_each_patch_at_its_frames():
    m = models.build("yamnet", 4, width=0.25, patch_hop=48)  # overlapping patches
    n_frames = 200  # patches start at 0, 48, 96, 144 (the last one padded)
    p = m.n_patches(n_frames)
    assert p == 4
    cam = torch.zeros(2 * p, 3, 2)
    cam[1] = 1.0  # clip 0, patch 1 -> frames 48..143
    cam[p:] = 2.0  # clip 1: every patch
    grid = m.cam_to_grid(cam, n_frames)
    assert grid.shape == (2, 64, n_frames)
    assert (grid[0, :, :48] == 0).all()
    assert torch.allclose(grid[0, :, 48:96], torch.tensor(0.5))  # averaged with patch 0
    assert torch.allclose(grid[1], torch.tensor(2.0))
