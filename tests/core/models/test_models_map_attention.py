"""S0 Table 5's alternatives to ECA inside the same CNN: multi-head, head-fusion and area attention over the map."""

import itertools

import pytest
import torch

from core import models
from core.errors import ConfigError
from core.models.map_attention import AreaAttention, HeadFusion, MapSelfAttention, area_features


def test_area_features_are_every_rectangles_mean_and_sum():
    x = torch.randn(2, 3, 4, 5)
    means, sums = area_features(x, 3, 2)
    expected = [x[..., r:r + h, c:c + w] for h, w in itertools.product(range(1, 4), range(1, 3))
                for r in range(4 - h + 1) for c in range(5 - w + 1)]
    assert means.shape == sums.shape == (2, len(expected), 3)
    torch.testing.assert_close(means, torch.stack([a.mean(dim=(-2, -1)) for a in expected], dim=1))
    torch.testing.assert_close(sums, torch.stack([a.sum(dim=(-2, -1)) for a in expected], dim=1))
    assert area_features(x[..., :1, :], 3, 2)[0].shape[1] == 5 + 4  # a one-row map: only 1 x 1 and 1 x 2 areas


def test_area_attention_with_single_positions_is_torchs_multi_head_attention():
    """Areas of one position are ordinary attention: the same weights in nn.MultiheadAttention give the same map."""
    torch.manual_seed(0)
    channels, heads = 8, 2
    area = AreaAttention(channels, heads, max_area=(1, 1))
    reference = MapSelfAttention(channels, heads)
    with torch.no_grad():
        reference.attention.in_proj_weight.copy_(area.qkv.weight[:, :, 0, 0])
        reference.attention.in_proj_bias.copy_(area.qkv.bias)
        reference.attention.out_proj.weight.copy_(area.out.weight[:, :, 0, 0])
        reference.attention.out_proj.bias.copy_(area.out.bias)
    x = torch.randn(3, channels, 2, 7)
    torch.testing.assert_close(area(x), reference(x))


def test_uniform_area_attention_averages_the_areas_summed_values():
    torch.manual_seed(0)
    block = AreaAttention(4, heads=1, max_area=(2, 2))
    with torch.no_grad():
        block.qkv.weight.zero_()
        block.qkv.bias.zero_()
        block.out.weight.copy_(torch.eye(4)[:, :, None, None])
        block.out.bias.zero_()
        block.qkv.weight[8:, :, 0, 0] = torch.eye(4)  # values = the input; queries and keys 0: uniform attention
    x = torch.randn(1, 4, 2, 3)
    _, sums = area_features(x, 2, 2)
    expected = x + sums.mean(dim=1)[0][None, :, None, None]  # every position: the mean over areas of their sums
    torch.testing.assert_close(block(x), expected)


def test_self_attention_blocks_are_equivariant_to_moving_positions():
    torch.manual_seed(0)
    block = MapSelfAttention(8, heads=2).eval()
    x = torch.randn(2, 8, 1, 6)
    order = torch.randperm(6)
    torch.testing.assert_close(block(x[..., order]), block(x)[..., order])


def test_the_cnns_hold_the_papers_parameters_plus_four_c_squared_per_attention_block():
    """Table 4's 2,734,482 (n = 4, 4 classes) minus its 2 x 7 ECA weights, plus W_q, W_k, W_v, W_o with biases
    (4 C^2 + 4 C) for blocks 5 and 6 (C = 320, 384)."""
    attention = sum(4 * c * c + 4 * c for c in (320, 384))
    for name in ("cnn-mha", "cnn-area"):
        m = models.build(name, 4)
        assert models.num_parameters(m) == 2_734_482 - 2 * 7 + attention, name
        assert [b.attention is not None for b in m.blocks] == [False] * 4 + [True, True]
        assert all(b.eca is None for b in m.blocks) and m.spec.eca_taps == ()
    assert isinstance(models.build("cnn-area", 4).blocks[4].attention, AreaAttention)
    assert isinstance(models.build("cnn-mha", 4).blocks[5].attention, MapSelfAttention)


@pytest.mark.parametrize("name,cfg,match", [("cnn-mha", {"heads": 3}, "heads"), ("cnn-mha", {"attention_blocks": (7,)},
                                            "blocks 1..6"), ("cnn-area", {"max_area": (3,)}, "max_area")])
def test_bad_attention_settings_say_what_is_wrong(name, cfg, match):
    with pytest.raises(ConfigError, match=match):
        models.build(name, 4, n=1, **cfg)


def test_head_fusion_is_the_mean_over_heads_of_softmax_q_times_k_times_v():
    """The authors' MACNN per head: softmax over channels of Q * K (elementwise), times V; heads averaged."""
    torch.manual_seed(0)
    channels, heads = 6, 3
    block = HeadFusion(channels, heads)
    x = torch.randn(2, channels, 3, 5)
    w, b = block.qkv.weight, block.qkv.bias
    conv = lambda part, h: torch.nn.functional.conv2d(  # noqa: E731  (part: 0 Q, 1 K, 2 V; head h)
        x, w[(part * heads + h) * channels:(part * heads + h + 1) * channels],
        b[(part * heads + h) * channels:(part * heads + h + 1) * channels])
    maps = [torch.softmax(conv(0, h) * conv(1, h), dim=1) * conv(2, h) for h in range(heads)]
    torch.testing.assert_close(block(x), x + torch.stack(maps).mean(0))


def test_head_fusion_cnn_holds_three_c_squared_per_head_and_block():
    attention = sum(4 * 3 * (c * c + c) for c in (320, 384))  # 4 heads of Q, K, V: 1x1 convs C -> C with bias
    m = models.build("cnn-hf", 4)
    assert models.num_parameters(m) == 2_734_482 - 2 * 7 + attention
    assert isinstance(m.blocks[5].attention, HeadFusion) and m.spec.eca_taps == ()
