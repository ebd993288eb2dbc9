"""S3 as published (issue #15): the fusion head with VGGish's maps not pooled (``vggish_pool="none"``), the 48 kHz
front end of Tables 2-3 (feature preset ``s3-48k``) and the ``s3-paper`` preset that joins them.

The model contract (``test_models_contract``) runs again here on the paper's head: the tests imported below use
this module's ``model`` fixture."""

from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import torch
import torchaudio.functional as AF
from captum.attr import Occlusion
from test_models_contract import (  # noqa: F401  (collected here, on this module's model)
    test_backward_reaches_every_trainable_parameter,
    test_cam_layers_can_be_hooked_forward_and_backward_and_mapped_to_the_grid,
    test_eval_mode_is_deterministic_and_batch_consistent,
    test_forward_gives_finite_logits_for_several_lengths,
    test_forward_is_head_of_features_and_embed_is_pre_logits,
    test_forward_writes_no_state_on_the_module,
    test_inputs_shorter_than_the_receptive_field_work,
    test_rebuilding_from_the_json_config_gives_the_same_architecture,
    test_spec_layers_resolve_and_eca_taps_have_a_sigmoid_gate,
)

from core import models, presets
from core.data.corpora import load_manifest
from core.errors import ConfigError
from core.explain.baselines import baseline
from core.explain.gradcam import gradcam
from core.explain.occlusion import OcclusionSettings, occlusion
from core.explain.subject import Subject
from core.features import extract, preset
from core.models.fusion import FusionModel
from core.training import TrainConfig, decode, fit

DEMO = Path(__file__).resolve().parents[3] / "assets" / "demo"
PAPER = {"vggish_pool": "none"}
CLASSES = 4


def paper_head(seed: int = 0, **cfg) -> models.SerModel:
    torch.manual_seed(seed)
    return models.build("fusion", CLASSES, **models.demo_config("fusion") | PAPER | cfg)


@pytest.fixture(scope="module")
def model():
    """The contract tests' model: demo size, the paper's head."""
    return paper_head()


# ----------------------------------------------------------------------------- the head

def test_the_paper_head_flattens_vggish_maps_and_pools_yamnets_with_the_papers_sizes():
    torch.manual_seed(0)
    m = models.build("fusion", CLASSES, **PAPER).eval()
    # Section 4.1: "[24 x 16 x 128/12 x 8 x 256/6 x 4 x 512]" from VGGish's pooling layers 2-4, flattened; the
    # YAMNet maps of the same sizes globally pooled to their channels
    sizes = [(128, 24, 16), (256, 12, 8), (512, 6, 4)]
    length = sum(c * h * w for c, h, w in sizes) + sum(c for c, _, _ in sizes)
    assert m.pooled_dim == length and m.head.fc1.in_features == length
    with torch.no_grad():
        feats = m.forward_features(torch.randn(1, 64, 96))
        vector = m.pooled(feats)
    assert vector.shape == (1, 1, length)
    at = 0  # per level: the VGGish map flattened, then the YAMNet map's channel means
    for v, y, (c, h, w) in zip(feats["vggish"], feats["yamnet"], sizes):
        assert v.shape[2:] == y.shape[2:] == (c, h, w)
        assert torch.equal(vector[0, 0, at:at + c * h * w], v[0, 0].reshape(-1))
        at += c * h * w
        torch.testing.assert_close(vector[0, 0, at:at + c], y[0, 0].mean(dim=(1, 2)))
        at += c

    # trainable parameters from the layer tables: VGGish 3x3 convs with bias up to pool4; YAMNet's bias-free convs
    # with a BatchNorm beta each (TF scale=False), layer 1 a full 3x3 conv, layers 2-12 depthwise 3x3 + pointwise
    vggish = sum(9 * i * o + o for i, o in [(1, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512)])
    separable = [(32, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512)] + [(512, 512)] * 5
    yamnet = (9 * 32 + 32) + sum(9 * i + i + i * o + o for i, o in separable)
    head = length * 256 + 256 + 256 * CLASSES + CLASSES  # Linear(length, hidden 256) -> Linear(256, classes)
    assert models.num_parameters(m) == vggish + yamnet + head
    pooled = models.build("fusion", CLASSES)  # today's default: every fused map pooled (1792-d)
    assert models.num_parameters(m) - models.num_parameters(pooled) == (length - 2 * sum(c for c, _, _ in sizes)) * 256


def test_gradients_reach_both_branches_and_vary_over_positions_only_in_the_unpooled_vggish_maps():
    x = torch.randn(2, 64, 96, generator=torch.Generator().manual_seed(1))
    for pool, vggish_varies in (("none", True), ("global", False)):
        m = paper_head(vggish_pool=pool).eval()
        feats = m.forward_features(x)
        for t in (*feats["vggish"], *feats["yamnet"]):
            t.retain_grad()
        m.forward_head(feats)[:, 1].sum().backward()
        for t in feats["yamnet"]:  # globally pooled: one gradient per channel, the same at every position
            torch.testing.assert_close(t.grad, t.grad[..., :1, :1].expand_as(t.grad))
        for t in feats["vggish"]:
            same = torch.allclose(t.grad, t.grad[..., :1, :1].expand_as(t.grad))
            assert same != vggish_varies, pool
        for weight in (m.vggish_branch.features[0].weight, m.yamnet_branch.layer1.fused.conv.weight):
            assert weight.grad is not None and weight.grad.abs().sum() > 0


def test_branch_logits_zero_the_other_branchs_part_of_the_head_input(model):
    model.eval()
    x = torch.randn(2, 64, 150, generator=torch.Generator().manual_seed(2))
    v, y = model.branch_mask("vggish"), model.branch_mask("yamnet")
    with torch.no_grad():
        feats = model.forward_features(x)
        for branch in ("vggish", "yamnet"):
            parts = []  # the head's input rebuilt from the maps, the other branch's part zero
            for a, b in zip(feats["vggish"], feats["yamnet"]):
                keep_v, keep_y = float(branch == "vggish"), float(branch == "yamnet")
                parts += [keep_v * a.flatten(-3), keep_y * b.mean(dim=(-2, -1))]
            head_input = torch.cat(parts, dim=-1)
            expected = model.head.fc(model.head(head_input, pre_logits=True).mean(1))
            torch.testing.assert_close(model.branch_logits(x, branch), expected)
    assert torch.equal(v + y, torch.ones(model.pooled_dim))
    assert int(v.sum()) == sum(a[0, 0].numel() for a in feats["vggish"])


def test_the_setting_is_recorded_named_in_the_spec_and_checked():
    m = paper_head()
    assert m.config == {**models.default_config("fusion"), **models.demo_config("fusion"), **PAPER}
    assert "no global pooling" in m.spec.description and "no global pooling" not in models.spec("fusion").description
    assert models.default_config("fusion")["vggish_pool"] == "global"  # the shipped checkpoint's head
    with pytest.raises(ConfigError, match="vggish_pool.*global, none"):
        models.build("fusion", CLASSES, vggish_pool="flat")
    with pytest.raises(ConfigError, match="vggish_pool"):
        FusionModel(CLASSES, width=0.25, hidden=8, dropout=0.0, patch_hop=96, vggish_pool="max")


def test_incremental_occlusion_and_branch_grad_cams_work_on_the_paper_head(model):
    model.eval()
    features = torch.randn(64, 157, generator=torch.Generator().manual_seed(3))
    subject = Subject(model, features, preset("vggish"), ("a", "b", "c", "d"))
    settings = OcclusionSettings(window_ms=200, window_bands=30, stride_ms=130, stride_bands=23, baseline="mean")
    ours = occlusion(subject, 2, settings)["occlusion"]
    assert ours.settings["incremental"] is True  # through patch_parts: only the changed patches rerun the trunk
    window = (30, ours.settings["window_frames"])
    strides = (23, ours.settings["stride_frames"])
    with torch.no_grad():
        reference = Occlusion(model).attribute(features[None], sliding_window_shapes=window, strides=strides,
                                               baselines=baseline(features, "mean")[None], target=2)[0].numpy()
        scale = float(model(features[None]).abs().max())
    assert np.abs(reference).max() > 0
    np.testing.assert_allclose(ours.values, reference, rtol=1e-4, atol=4e-6 * scale)

    maps = gradcam(subject, 1)
    assert {"gradcam", "gradcam-vggish", "gradcam-yamnet"} <= set(maps)
    np.testing.assert_allclose(maps["gradcam"].values, maps["gradcam-vggish"].values + maps["gradcam-yamnet"].values,
                               rtol=1e-5, atol=1e-7)
    assert maps["gradcam-vggish"].values.shape == (64, 157) and np.abs(maps["gradcam-vggish"].values).max() > 0


# ----------------------------------------------------------------------------- the 48 kHz front end

def test_the_48k_front_end_frames_like_tables_2_and_3():
    cfg = preset("s3-48k")
    # Table 2: window 1200, overlap 720; Table 3: 48,000 Hz, FFT length 1200, 64 mel bands
    assert (cfg.sample_rate, cfg.win_length, cfg.win_length - cfg.hop_length, cfg.fft_size, cfg.n_mels) == \
        (48_000, 1200, 720, 1200, 64)
    wave = 0.1 * torch.randn(48_000 + 333, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    ours = extract(wave, cfg)
    # reference: 1200-sample frames every 1200 - 720 samples from sample 0 (no padding), scipy's periodic Hann
    # ("fftbins"), numpy's one-sided 1200-point FFT, power, torchaudio's HTK mel filters over 0-24 kHz, log
    hop, signal = 1200 - 720, wave.numpy()
    n = 1 + (signal.size - 1200) // hop
    frames = np.stack([signal[i * hop:i * hop + 1200] for i in range(n)])
    power = np.abs(np.fft.rfft(frames * scipy.signal.get_window("hann", 1200), n=1200, axis=1)) ** 2
    filters = AF.melscale_fbanks(1200 // 2 + 1, 0.0, 24_000.0, 64, 48_000, mel_scale="htk").double().numpy()
    reference = np.log(power @ filters + 1e-6).T
    assert ours.shape == (64, n)
    np.testing.assert_allclose(ours.numpy(), reference, rtol=1e-6, atol=1e-6)


def test_s3_paper_joins_the_48k_front_end_and_the_unpooled_head_and_s3_keeps_the_weights_front_end():
    s3, paper = presets.get("s3"), presets.get("s3-paper")
    assert (paper.features, dict(paper.model_cfg)) == ("s3-48k", {"patch_hop": 48, "vggish_pool": "none"})
    assert s3.features == "vggish" and "vggish_pool" not in s3.model_cfg  # fits the converted 16 kHz weights
    a, b = s3.train_config().to_dict(), paper.train_config().to_dict()
    assert {k for k in a if a[k] != b[k]} == {"features", "model_cfg"}
    assert "not applied" in paper.sources["model_cfg"] and "1200" in paper.sources["features"]


def test_a_paper_fusion_model_trains_on_48k_features_of_16k_clips(tmp_path):
    """The sample rate flows from the preset to decoding: the 16 kHz demo clips are resampled to 48 kHz."""
    rows = load_manifest(DEMO).filter(split="train", speaker=["demo-01"])
    first = {}
    for i, row in enumerate(rows.rows):
        first.setdefault(row.label, i)
    clips = rows.take(sorted(first.values()))  # one clip per emotion
    cfg = TrainConfig(model="fusion", model_cfg=models.demo_config("fusion") | PAPER | {"hidden": 16},
                      features="s3-48k", epochs=1, batch_size=4, seconds=1.0, device="cpu", seed=0)
    result = fit(clips, cfg, tmp_path, labels=clips.labels(), progress=False)
    assert result.card.features == preset("s3-48k") and result.model.config["vggish_pool"] == "none"
    assert np.isfinite(result.card.metrics["history"][0]["loss"])
    torch.manual_seed(cfg.seed)
    initial = models.build("fusion", CLASSES, **dict(cfg.model_cfg)).state_dict()
    trained = result.model.state_dict()
    for name in ("vggish_branch.features.0.weight", "yamnet_branch.layer1.fused.conv.weight", "head.fc1.weight"):
        assert not torch.equal(trained[name], initial[name]), name

    waves = decode(clips, result.labels, seconds=1.0, sample_rate=result.card.features.sample_rate).waves
    assert waves.shape == (4, 48_000)
    spectrum = torch.fft.rfft(waves).abs() ** 2  # resampled from 16 kHz: nothing above the old 8 kHz Nyquist
    assert spectrum[:, 8_200:].sum() < 1e-3 * spectrum.sum()
