"""The papers' baselines and studies as settings: S0's "original ECA" (ECA-Net's adaptive k after every block), S1's
kernel depths (homogeneous or per block) and S1's CNN-LSTM baseline, with their presets."""

import dataclasses
import math

import pytest
import torch

from core import models, presets
from core.errors import ConfigError
from core.models.eca import eca_kernel_size


def eca_net_k(channels: int, gamma: int = 2, b: int = 1) -> int:
    """ECA-Net (Wang et al., CVPR 2020): k = |log2(C) / gamma + b / gamma|_odd, the odd number nearest to t
    (odd 2m + 1 is nearest for every t in [2m, 2m + 2))."""
    t = math.log2(channels) / gamma + b / gamma
    return 2 * math.floor(t / 2) + 1


def same_but(preset, paper, changed: set[str]) -> bool:
    """Every value of ``preset`` but ``changed`` is the paper preset's."""
    return all(getattr(preset, f.name) == getattr(paper, f.name) for f in dataclasses.fields(preset)
               if f.name not in changed)


# ----------------------------------------------------------------------------- S0: the original ECA

def test_eca_kernel_size_is_eca_nets_rule():
    assert [eca_kernel_size(c) for c in (64, 256, 512)] == [3, 5, 5]  # ECA-Net's gamma = 2, b = 1
    for c in list(range(1, 600)) + [1023, 1024, 2047, 2048, 4096]:
        assert eca_kernel_size(c) == eca_net_k(c), c
        assert eca_kernel_size(c, gamma=3, b=2) == eca_net_k(c, 3, 2), c


def test_adaptive_eca_gives_each_block_the_k_of_its_own_channels():
    for n, expected in ((4, [3, 5, 5, 5, 5, 5]), (2, [3, 3, 3, 5, 5, 5])):
        m = models.build("cnn-eca", 4, n=n, eca_kernel="adaptive", eca_blocks=(1, 2, 3, 4, 5, 6))
        kernels = [b.eca.conv.weight.shape[-1] for b in m.blocks]
        assert kernels == [eca_net_k(b.conv.out_channels) for b in m.blocks] == expected
        assert m.spec.eca_taps == tuple(f"blocks.{i}.eca" for i in range(6))
        assert models.num_parameters(m) == models.num_parameters(models.build("cnn", 4, n=n)) + sum(kernels)
    some = models.build("cnn-eca", 4, n=4, eca_kernel="adaptive", eca_blocks=(1, 6))
    assert [b.eca is not None for b in some.blocks] == [True, False, False, False, False, True]
    assert (some.blocks[0].eca.kernel_size, some.blocks[5].eca.kernel_size) == (3, 5)
    assert some.config["eca_kernel"] == "adaptive"


@pytest.mark.parametrize("bad", ["auto", 0, True, 2.5, None])
def test_eca_kernel_is_an_integer_or_adaptive(bad):
    with pytest.raises(ConfigError, match="eca_kernel.*adaptive"):
        models.build("cnn-eca", 4, n=1, eca_kernel=bad)


def test_s0_original_eca_preset_is_eca_after_all_six_blocks_trained_as_s0_on_version_8():
    s0, p = presets.get("s0"), presets.get("s0-original-eca")
    model = models.build(p.model, 4, **dict(p.model_cfg))
    assert len(model.spec.eca_taps) == 6
    # Table 4's 2,734,482 holds 2 x 7 ECA weights; the original ECA has one k per block instead
    kernels = [eca_net_k(c) for c in (64, 128, 192, 256, 320, 384)]
    assert models.num_parameters(model) == 2_734_482 - 2 * 7 + sum(kernels)
    assert p.augment == () and p.features == "stft-v8"  # Table 6's row: version 8, no STFT augmentation
    assert same_but(p, s0, {"name", "title", "model_cfg", "augment", "sources"})
    assert "positioned after all convolution layers" in p.sources["model"]


# ----------------------------------------------------------------------------- S1: kernel depths

def convs(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.Conv3d)]


SMALL_3D = {"segments": 8, "segment_frames": 8, "width": 2, "embed_dim": 4}


def test_kernel_depths_default_to_the_old_table_so_saved_configs_rebuild_unchanged():
    old_card = {"segments": 10, "segment_frames": 30, "width": 8, "embed_dim": 32, "dropout": 0.0}  # before the setting
    m = models.build("cnn3d", 4, **old_card)
    assert [c.kernel_size for c in convs(m)] == [(1, 5, 5), (2, 3, 3), (2, 3, 3)]
    again = models.build("cnn3d", 4, **m.config)
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in m.state_dict().items()}


def test_one_depth_makes_every_block_the_same_kernel_and_a_list_sets_each_block():
    homogeneous = models.build("cnn3d", 4, **SMALL_3D, temporal_depth=3, frame_depth=3, spectral_depth=5)
    assert [c.kernel_size for c in convs(homogeneous)] == [(3, 3, 5)] * 3
    mixed = models.build("cnn3d", 4, **SMALL_3D, temporal_depth=[1, 2, 4], frame_depth=[3, 3, 3],
                         spectral_depth=[7, 5, 3])
    assert [c.kernel_size for c in convs(mixed)] == [(1, 3, 7), (2, 3, 5), (4, 3, 3)]
    with torch.no_grad():  # "same" padding: odd and even depths keep every axis's size
        shapes = {m.eval().forward_features(torch.randn(1, 64, 64)).shape for m in (homogeneous, mixed)}
    assert shapes == {(1, 8, 8, 2, 16)}


def segments_read(model, t: int) -> set[int]:
    """The volume's segments the last block's output at segment ``t`` depends on (gradient support)."""
    vol = model.eval().to_volume(torch.randn(1, 64, 64)).requires_grad_()
    model.blocks(vol)[0, :, t].sum().backward()
    return set(torch.nonzero(vol.grad[0, 0].abs().sum(dim=(1, 2))).flatten().tolist())


def bands_read(model, f: int) -> set[int]:
    """The input bands the last block's output at pooled band ``f`` depends on."""
    vol = model.eval().to_volume(torch.randn(1, 64, 64)).requires_grad_()
    model.blocks(vol)[0, :, :, :, f].sum().backward()
    return set(torch.nonzero(vol.grad[0, 0].abs().sum(dim=(0, 1))).flatten().tolist())


def test_temporal_depth_spans_segments_and_spectral_depth_spans_bands():
    torch.manual_seed(0)
    flat = models.build("cnn3d", 4, **SMALL_3D, temporal_depth=1, frame_depth=3, spectral_depth=1)
    assert segments_read(flat, 4) == {4}  # depth 1 across segments: no segment sees its neighbours
    assert bands_read(flat, 5) == set(range(20, 24))  # spectral depth 1: only the 4 bands pooled into band 5
    deep = models.build("cnn3d", 4, **SMALL_3D, temporal_depth=3, frame_depth=1, spectral_depth=3)
    assert segments_read(deep, 4) == set(range(1, 8))  # three 3-deep blocks: 4 +- 3
    assert bands_read(deep, 5) > set(range(20, 24))


@pytest.mark.parametrize("setting, bad", [("temporal_depth", [1, 2]), ("spectral_depth", 0),
                                          ("frame_depth", "3"), ("temporal_depth", [1, 2, True])])
def test_bad_kernel_depths_name_the_setting(setting, bad):
    with pytest.raises(ConfigError, match=setting):
        models.build("cnn3d", 4, **SMALL_3D, **{setting: bad})


def test_s1_homogeneous_preset_is_one_shallow_temporal_deeper_spectral_kernel_trained_as_s1():
    s1, p = presets.get("s1"), presets.get("s1-homogeneous")
    kernels = {c.kernel_size for c in convs(models.build(p.model, 4, **dict(p.model_cfg)))}
    assert len(kernels) == 1
    [(t, _, f)] = kernels
    assert t < f  # "shallow temporal and moderately deep spectral kernels"
    assert same_but(p, s1, {"name", "title", "model_cfg", "sources"})
    assert "abstract" in p.sources["model_cfg"] and "ours" in p.sources["model_cfg"]


# ----------------------------------------------------------------------------- S1: the CNN-LSTM baseline

def lstm_io(model, x):
    """What the LSTM reads and writes for input ``x``."""
    seen = {}
    handle = model.lstm.register_forward_hook(lambda m, i, o: seen.update(input=i[0], output=o[0]))
    try:
        with torch.no_grad():
            emb = model.eval().embed(x)
    finally:
        handle.remove()
    return seen["input"], seen["output"], emb


def test_cnn_lstm_has_conv_blocks_then_an_lstm_over_the_pooled_time_steps():
    torch.manual_seed(0)
    m = models.build("cnn-lstm", 4)
    blocks = list(m.blocks)
    assert [b.conv.out_channels for b in blocks] == [64, 64, 128, 128]
    assert all(b.conv.kernel_size == (3, 3) and isinstance(b.act, torch.nn.ELU) for b in blocks)
    # torch's own counts: conv 9 in out + out, BN 2 out, LSTM 4h (i + h) + 8h, Linear h c + c
    conv = sum(9 * i * o + o + 2 * o for i, o in ((1, 64), (64, 64), (64, 128), (128, 128)))
    i, h = 128 * 64 // 16, 256  # each step: 128 channels x the 4 rows left of 64 bands
    assert models.num_parameters(m) == conv + 4 * h * (i + h) + 8 * h + h * 4 + 4
    seq, out, emb = lstm_io(m, torch.randn(2, 64, 301))
    assert seq.shape == (2, math.ceil(301 / 16), 512)  # one LSTM step per 16 frames, the tail step included
    torch.testing.assert_close(emb, out[:, -1])  # the last state is the embedding


def test_cnn_lstm_mean_summary_reads_every_step_and_one_frame_is_enough():
    torch.manual_seed(0)
    m = models.build("cnn-lstm", 3, channels=(4, 4), hidden=8, summary="mean")
    _, out, emb = lstm_io(m, torch.randn(2, 64, 37))
    torch.testing.assert_close(emb, out.mean(dim=1))
    with torch.no_grad():
        assert m(torch.randn(2, 64, 1)).shape == (2, 3)
    with pytest.raises(ConfigError, match="summary"):
        models.build("cnn-lstm", 3, summary="max")


def test_cnn_lstm_cam_cells_land_on_the_frames_and_bands_they_pooled():
    m = models.build("cnn-lstm", 4, channels=(4, 4, 4, 4), hidden=8)
    frames = 161  # 11 steps of 16 frames, the last one holds frame 160 alone
    rows, steps = 4, math.ceil(frames / 16)
    for r, s in ((1, 3), (3, steps - 1)):
        cam = torch.zeros(1, rows, steps)
        cam[0, r, s] = 1.0
        grid = m.cam_to_grid(cam, frames)[0]
        assert grid.shape == (64, frames)
        band, frame = divmod(int(grid.argmax()), frames)
        assert r * 16 <= band < (r + 1) * 16 and s * 16 <= frame < min((s + 1) * 16, frames)


def test_s1_cnn_lstm_preset_trains_the_baseline_as_s1():
    s1, p = presets.get("s1"), presets.get("s1-cnn-lstm")
    assert p.model == "cnn-lstm" and models.spec(p.model).paper == "S1"
    assert models.spec(p.model).feature_preset == models.spec("cnn3d").feature_preset == p.features
    assert same_but(p, s1, {"name", "title", "model", "sources"}) and p.protocol() == s1.protocol()
    assert p.train_config().batch_size == 36 and p.train_config().model == "cnn-lstm"
    assert "paper silent" in p.sources["model_cfg"] and "Zhao" in p.sources["model_cfg"]
