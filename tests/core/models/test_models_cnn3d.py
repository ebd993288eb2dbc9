"""S1: the 3D CNN over (T segments x L frames x F bands) volumes (Kim et al., ACII 2017)."""

import pytest
import torch

from core import models


def labelled(frames, batch=2):
    """x[b, f, n] = 100000 b + 1000 f + n: every cell says where it came from."""
    b = torch.arange(batch)[:, None, None]
    f = torch.arange(64)[None, :, None]
    n = torch.arange(frames)[None, None, :]
    return (100000 * b + 1000 * f + n).float()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return models.build("cnn3d", 4, segments=4, segment_frames=6, width=4, embed_dim=8).eval()


def test_volume_layout_with_a_central_crop(model):
    frames = 31  # 24 fit: start = (31 - 24) // 2 = 3
    vol = model.to_volume(labelled(frames))
    assert vol.shape == (2, 1, 4, 6, 64) and model.crop_start(frames) == 3
    for b, t, l, f in [(0, 0, 0, 0), (1, 3, 5, 63), (0, 2, 1, 10)]:
        assert vol[b, 0, t, l, f] == 100000 * b + 1000 * f + 3 + t * 6 + l


def test_volume_layout_pads_the_tail_with_the_floor(model):
    x = labelled(20) + 5.0
    vol = model.to_volume(x)
    assert model.crop_start(20) == 0
    assert vol[1, 0, 3, 1, 7] == x[1, 7, 19]  # frame 3 * 6 + 1 = 19, the last real one
    assert (vol[:, 0, 3, 2:] == x.amin(dim=(1, 2))[:, None, None]).all()  # frames 20..23: each clip's floor


def test_volume_to_grid_inverts_the_layout(model):
    for frames in (31, 20, 24):
        x = labelled(frames)
        vol = model.to_volume(x)[:, 0]  # (B, T, L, F): a map at full resolution
        grid = model.volume_to_grid(vol, frames)
        start, used = model.crop_start(frames), min(frames, 24)
        assert grid.shape == (2, 64, frames)
        torch.testing.assert_close(grid[..., start:start + used], x[..., start:start + used])
        assert (grid[..., :start] == 0).all() and (grid[..., start + used:] == 0).all()
        assert model.volume_to_grid(vol[0], frames).shape == (64, frames)


def test_kernels_are_shallow_across_segments_and_the_segment_axis_keeps_its_resolution(model):
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv3d)]
    assert all(c.kernel_size[0] <= 2 and c.kernel_size[1] >= 3 and c.kernel_size[2] >= 3 for c in convs)
    with torch.no_grad():
        fmap = model.forward_features(torch.randn(1, 64, 24))
    assert fmap.shape == (1, 16, 4, 1, 16)  # (C, T, L / 4, F / 4)
    assert model.embed(torch.randn(3, 64, 50)).shape == (3, 8)


def test_defaults_are_ten_segments_of_thirty_frames():
    m = models.build("cnn3d", 4, **models.demo_config("cnn3d"))
    assert (m.segments, m.segment_frames, m.volume_frames) == (10, 30, 300)
    assert m.config["segments"] == 10 and m.config["segment_frames"] == 30
