"""S0: the CNN with efficient channel attention (Kim & Kwon, arXiv 2409.04007) and the ECA module."""

import pytest
import torch
import torch.nn.functional as F

from core import models
from core.models.eca import ECA


@pytest.fixture(scope="module")
def paper_model():
    torch.manual_seed(0)
    return models.build("cnn-eca", num_classes=4, n=4, eca_kernel=7, eca_blocks=(5, 6))


def test_the_paper_configuration_has_exactly_the_papers_parameter_count(paper_model):
    assert models.num_parameters(paper_model) == 2_734_482
    baseline = models.build("cnn", num_classes=4, n=4)
    assert models.num_parameters(baseline) == 2_734_482 - 2 * 7
    assert models.num_parameters(baseline, trainable=False) == models.num_parameters(baseline)


def test_channel_schedule_is_16_n_i_and_head_is_c_to_c_to_classes(paper_model):
    convs = [paper_model.blocks[i].conv for i in range(6)]
    assert [c.out_channels for c in convs] == [64, 128, 192, 256, 320, 384]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) and c.bias is not None for c in convs)
    assert all(isinstance(paper_model.blocks[i].pool, torch.nn.AvgPool2d) for i in range(5))
    assert isinstance(paper_model.blocks[5].pool, torch.nn.Identity)
    head = paper_model.head
    assert (head.fc1.in_features, head.fc1.out_features, head.fc.in_features, head.fc.out_features) == (384, 384, 384, 4)
    assert models.build("cnn", 4, n=1).blocks[5].conv.out_channels == 96


def test_paper_model_maps_a_3_second_clip_to_a_2_by_9_grid(paper_model):
    paper_model.eval()
    with torch.no_grad():
        fmap = paper_model.forward_features(torch.randn(1, 64, 301))
    assert fmap.shape == (1, 384, 2, 9)


def test_he_initialisation(paper_model):
    w = paper_model.blocks[4].conv.weight  # fan-in 256 * 9
    assert w.std().item() == pytest.approx((2 / (256 * 9)) ** 0.5, rel=0.02)
    assert abs(w.mean().item()) < 1e-3
    assert torch.count_nonzero(paper_model.blocks[4].conv.bias) == 0


def test_eca_placement_follows_the_setting():
    m = models.build("cnn-eca", 4, n=1, eca_blocks=[4, 5, 6], eca_kernel=5)
    assert m.spec.eca_taps == ("blocks.3.eca", "blocks.4.eca", "blocks.5.eca")
    assert m.config["eca_blocks"] == [4, 5, 6]
    assert all(m.get_submodule(t).conv.weight.shape == (1, 1, 5) for t in m.spec.eca_taps)
    assert models.spec("cnn-eca").eca_taps == ("blocks.4.eca", "blocks.5.eca")
    assert models.build("cnn", 4, n=1).spec.eca_taps == ()


def test_eca_is_gap_conv1d_sigmoid_rescale_without_bias_or_batchnorm():
    torch.manual_seed(0)
    eca = ECA(7)
    assert [n for n, _ in eca.named_parameters()] == ["conv.weight"]
    assert eca.conv.weight.shape == (1, 1, 7) and eca.conv.bias is None
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in eca.modules())
    x = torch.randn(3, 12, 5, 4)
    gates = []
    handle = eca.gate.register_forward_hook(lambda m, i, o: gates.append(o))
    try:
        out = eca(x)
    finally:
        handle.remove()
    # by hand: channel means -> 1D conv across channels, zero padding 3 each side -> sigmoid
    means = x.mean(dim=(2, 3))
    w = torch.sigmoid(F.conv1d(means[:, None, :], eca.conv.weight, padding=3))[:, 0]
    assert gates[0].shape == (3, 12, 1, 1)
    torch.testing.assert_close(gates[0][:, :, 0, 0], w)
    assert ((gates[0] > 0) & (gates[0] < 1)).all()
    torch.testing.assert_close(out, x * w[:, :, None, None])


def test_eca_inside_the_model_rescales_the_block_output(paper_model):
    paper_model.eval()
    block = paper_model.blocks[5]
    seen = {}
    hooks = [block.act.register_forward_hook(lambda m, i, o: seen.__setitem__("pre", o)),
             block.eca.gate.register_forward_hook(lambda m, i, o: seen.__setitem__("gate", o)),
             block.register_forward_hook(lambda m, i, o: seen.__setitem__("out", o))]
    try:
        with torch.no_grad():
            paper_model(torch.randn(2, 64, 64))
    finally:
        for h in hooks:
            h.remove()
    torch.testing.assert_close(seen["out"], seen["pre"] * seen["gate"])


def test_short_clips_are_padded_to_the_32_frames_the_pools_need():
    torch.manual_seed(0)
    m = models.build("cnn-eca", 4, n=1).eval()
    x = torch.randn(1, 64, 10)
    padded = torch.cat([x, x.amin().expand(1, 64, 22)], dim=-1)
    with torch.no_grad():
        torch.testing.assert_close(m(x), m(padded))
        assert m.forward_features(x).shape[-1] == 1
    cam = torch.arange(2.0).reshape(1, 2, 1)  # a (2 x 1) map: bottom half 0, top half 1
    grid = m.cam_to_grid(cam, 10)
    assert grid.shape == (1, 64, 10)
    assert (grid[0, :16] == 0).all() and (grid[0, 48:] == 1).all()


@pytest.mark.parametrize("bad", [{"n": 0}, {"eca_blocks": []}, {"eca_blocks": [7]}, {"eca_kernel": 0},
                                 {"dropout": 1.5}, {"n": 2.5}])
def test_bad_settings_are_config_errors(bad):
    from core.errors import ConfigError

    with pytest.raises(ConfigError):
        models.build("cnn-eca", 4, **bad)


def test_wrong_input_shape_is_a_config_error():
    from core.errors import ConfigError

    m = models.build("cnn", 4, n=1)
    with pytest.raises(ConfigError, match="bands"):
        m(torch.randn(1, 40, 100))  # MFCCs into a log-mel model
    with pytest.raises(ConfigError, match=r"\(batch, bands, frames\)"):
        m(torch.randn(1, 1, 64, 100))
