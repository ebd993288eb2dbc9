"""Training-time augmentation: gain, VTLP (Jaitly & Hinton 2013), SpecAugment masks, and the loop's use of them."""

import math

import pytest
import torch
from safetensors.torch import load_file

from core import checkpoint
from core.cli import build_parser
from core.errors import ConfigError
from core.features import frontend, mel_band_hz, preset
from core.training import TrainConfig, fit
from core.training.augment import (
    RT60_SECONDS, Augmentation, freq_mask, gain, noise, reverb, room_impulses, speed, speed_factors, time_mask, vtlp,
    vtlp_factors, vtlp_source_hz, warp_bands,
)
from core.training.loop import _Batcher


def sine(hz: float, seconds: float = 0.5, sr: int = 16_000) -> torch.Tensor:
    t = torch.arange(int(seconds * sr)) / sr
    return 0.5 * torch.sin(2 * math.pi * hz * t)


def features(name: str, n: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return frontend(preset(name))(0.1 * torch.randn(n, 8000, generator=g))


# ----------------------------------------------------------------------------- VTLP


def test_the_warp_is_piecewise_linear_and_fixes_zero_and_nyquist():
    hz = torch.linspace(0, 8000, 801)
    alpha = torch.tensor([0.9, 1.0, 1.1])
    src = vtlp_source_hz(hz, alpha, nyquist=8000.0)
    assert torch.allclose(src[1], hz.double())  # alpha 1: identity
    assert torch.allclose(src[:, 0], torch.zeros(3, dtype=torch.float64))
    assert torch.allclose(src[:, -1], torch.full((3,), 8000.0, dtype=torch.float64))
    assert (src.diff(dim=1) > 0).all()  # increasing: no frequency folds over
    # below the boundary f_hi * min(alpha, 1) the output frequency g comes from g / alpha
    assert torch.allclose(src[0, hz <= 4320], hz[hz <= 4320].double() / 0.9)
    assert torch.allclose(src[2, hz <= 4800], hz[hz <= 4800].double() / 1.1)
    # continuous: no jump between neighbouring output frequencies larger than the linear slope allows
    assert src.diff(dim=1).max() < 10.0 / 0.9 * 1.5


@pytest.mark.parametrize("name", ["stft-v8", "vggish"])
def test_warp_factor_one_is_the_identity_on_log_mel(name):
    x = features(name)
    assert torch.equal(vtlp(x, torch.ones(3), preset(name)), x)


def test_warp_factor_one_is_the_identity_on_mfcc():
    x = features("mfcc40")
    assert torch.allclose(vtlp(x, torch.ones(3), preset("mfcc40")), x, atol=1e-3, rtol=1e-5)


def test_vtlp_moves_a_tone_where_a_scaled_tone_lies():
    """A 1 kHz tone warped by alpha peaks in the band of an alpha kHz tone (the linear part of the warp)."""
    cfg = preset("stft-v8")
    tone = frontend(cfg)(sine(1000.0)[None])
    for alpha in (0.9, 1.1):
        warped = vtlp(tone, torch.tensor([alpha]), cfg)
        reference = frontend(cfg)(sine(1000.0 * alpha)[None])
        peak = warped.mean(-1).argmax(-1)
        assert peak.item() == reference.mean(-1).argmax(-1).item()
        assert peak.item() != tone.mean(-1).argmax(-1).item()  # it did move


def test_vtlp_interpolates_between_bands_and_holds_the_outer_bands():
    cfg = preset("stft-v8")
    ramp = torch.arange(64.0)[None, :, None].expand(2, 64, 5).contiguous()  # band i holds i
    out = warp_bands(ramp, torch.tensor([0.9, 1.1]), cfg)
    centres = mel_band_hz(cfg).double()
    mel = 1127.0 * torch.log1p(centres / 700.0)
    for row, alpha in enumerate((0.9, 1.1)):
        src = vtlp_source_hz(centres, torch.tensor([alpha]), 8000.0)[0]
        expected = ((1127.0 * torch.log1p(src / 700.0) - mel[0]) / (mel[1] - mel[0])).clamp(0, 63)
        assert torch.allclose(out[row, :, 0].double(), expected, atol=1e-4)
        assert torch.equal(out[row], out[row, :, :1].expand(64, 5))  # every frame warped alike
    assert out[1, 0, 0] < 1.0 and out[0, -1, 0] == 63.0  # alpha > 1 reads lower bands; the top stays


def test_vtlp_checks_the_feature_rows():
    with pytest.raises(ConfigError, match="feature rows"):
        vtlp(torch.zeros(1, 40, 10), torch.ones(1), preset("stft-v8"))


def test_vtlp_factors_lie_in_the_range():
    torch.manual_seed(0)
    alpha = vtlp_factors(1000, 0.1)
    assert alpha.min() >= 0.9 and alpha.max() <= 1.1 and alpha.std() > 0.05


# ----------------------------------------------------------------------------- masks


def spans(changed: torch.Tensor) -> list[tuple[int, int]]:
    """(start, end) runs of True in a 1-D bool tensor."""
    idx = changed.nonzero().flatten().tolist()
    runs = []
    for i in idx:
        if runs and runs[-1][1] == i:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1])
    return [tuple(r) for r in runs]


def test_a_time_mask_fills_exactly_one_span_and_leaves_the_rest():
    x = features("stft-v8", n=16)
    torch.manual_seed(1)
    out = time_mask(x, 30, count=1, fill=-5.0)
    widths = []
    for b in range(16):
        changed = (out[b] != x[b]).any(dim=0)
        assert (out[b] != x[b]).any(dim=1).all() or not changed.any()  # a time mask covers every band
        runs = spans(changed)
        assert len(runs) <= 1
        if runs:
            (s, e), = runs
            widths.append(e - s)
            assert (out[b, :, s:e] == -5.0).all()
        assert torch.equal(out[b][:, ~changed], x[b][:, ~changed])
    assert widths and max(widths) < 30 and len(set(widths)) > 3  # per-clip draws, narrower than T


def test_frequency_masks_fill_bands_with_the_clip_mean():
    x = features("stft-v8", n=8)
    torch.manual_seed(2)
    out = freq_mask(x, 10, count=2)
    for b in range(8):
        rows = (out[b] != x[b]).any(dim=1)
        assert len(spans(rows)) <= 2 and rows.sum() <= 2 * 9
        assert torch.allclose(out[b, rows], x[b].mean().expand_as(out[b, rows]))
        assert torch.equal(out[b, ~rows], x[b, ~rows])
    assert (out != x).any()


def test_same_seed_same_masks_other_seed_other_masks():
    x = features("vggish", n=4)
    aug = Augmentation(vtlp=0.1, freq_mask=12, time_mask=20)
    runs = []
    for seed in (5, 5, 6):
        torch.manual_seed(seed)
        runs.append(aug.features(x, preset("vggish")))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])
    assert not torch.equal(runs[0], x)


def test_mfcc_masks_and_warps_keep_the_shape_and_change_the_input():
    x = features("mfcc40")
    torch.manual_seed(0)
    out = Augmentation(vtlp=0.1, freq_mask=8, time_mask=10).features(x, preset("mfcc40"))
    assert out.shape == x.shape and torch.isfinite(out).all() and not torch.allclose(out, x)


def test_an_empty_policy_returns_its_input():
    x, w = features("stft-v8"), torch.randn(2, 100)
    aug = Augmentation()
    assert not aug and aug.features(x, preset("stft-v8")) is x and aug.waves(w) is w


# ----------------------------------------------------------------------------- gain


def test_gain_scales_each_wave_by_one_factor_within_the_range():
    torch.manual_seed(0)
    w = torch.rand(64, 100) + 0.5
    out = gain(w, 6.0)
    ratio = out / w
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio))
    db = 20 * torch.log10(ratio[:, 0])
    assert db.abs().max() <= 6.0 + 1e-4 and db.std() > 2.0
    assert gain(w, 0.0) is w


# ----------------------------------------------------------------------------- speed, rooms, noise


def dominant_hz(wave: torch.Tensor, sr: int = 16_000) -> float:
    spectrum = torch.fft.rfft(wave * torch.hann_window(len(wave))).abs()
    return float(spectrum.argmax()) * sr / len(wave)


def bursts(n: int = 24, sr: int = 16_000, at: float = 0.25) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Rows of 1.7 s: a 0.75 s 400 Hz tone at ``at`` s in white noise at 1e-3; their spans; the floor."""
    g = torch.Generator().manual_seed(1)
    rows = 1e-3 * torch.randn(n, int(1.7 * sr), generator=g)
    start, length = int(at * sr), int(0.75 * sr)
    rows[:, start:start + length] += sine(400.0, 0.75)
    return rows, torch.tensor([[start, length]] * n), 1e-3


def test_the_speed_grid_is_the_papers():
    assert speed_factors(0.1) == [0.9, 0.95, 1.0, 1.05, 1.1] and speed_factors(0.0) == [1.0]


@pytest.mark.parametrize("at", [0.25, 0.0, 0.95])  # the clip in the middle, at the start, at the end of its row
def test_speed_scales_pitch_and_duration_by_one_factor_and_tracks_the_clip(at):
    torch.manual_seed(0)
    rows, spans, floor = bursts(at=at)
    out, moved = speed(rows, spans, 0.1, 16_000)
    assert out.shape == rows.shape and moved.dtype == spans.dtype
    factors = set()
    for row, (start, length) in zip(out, moved.tolist()):
        factor = 0.75 * 16_000 / length  # the clip's new length says the factor ...
        assert min(abs(factor - f) for f in speed_factors(0.1)) < 0.01
        assert dominant_hz(row[start:start + length]) == pytest.approx(400 * factor, rel=0.01)  # ... and so does pitch
        assert row[start + 200:start + length - 200].abs().max() > 0.4  # the tone lies inside the new span
        outside = torch.cat([row[:max(0, start - 100)], row[start + length + 100:]])
        assert outside.abs().max() < 10 * floor  # and only background outside it, also where the row was refilled
        factors.add(round(factor, 2))
    assert len(factors) >= 4  # one draw per clip
    assert speed(rows, spans, 0.0, 16_000)[0] is rows


def test_rooms_decay_by_60_db_within_their_rt60_and_keep_the_level():
    torch.manual_seed(0)
    rirs = room_impulses(64, 16_000)
    assert torch.allclose(rirs.norm(dim=1), torch.ones(64))
    tail = rirs[:, 1:] ** 2
    edc = torch.flip(torch.cumsum(torch.flip(tail, [1]), 1), [1])  # Schroeder backward integration
    edc_db = 10 * torch.log10(edc / edc[:, :1])
    t_20 = (edc_db > -20).sum(1) / 16_000  # time to fall by 20 dB: RT60 / 3 for an exponential decay
    assert (t_20 * 3 > RT60_SECONDS[0] * 0.8).all() and (t_20 * 3 < RT60_SECONDS[1] * 1.1).all()
    rows, _, _ = bursts(8)
    wet = reverb(rows, 1.0, 16_000)
    assert torch.allclose(wet.pow(2).mean(1), rows.pow(2).mean(1), rtol=1e-4)
    assert (wet - rows).abs().amax(1).min() > 0.01  # every row reverberated
    assert reverb(rows, 0.0, 16_000) is rows


def test_noise_lands_within_its_snr_range():
    torch.manual_seed(0)
    rows = torch.stack([sine(400.0, 1.0)] * 64)
    added = noise(rows, 10.0) - rows
    snr = 10 * torch.log10(rows.pow(2).mean(1) / added.pow(2).mean(1))
    assert snr.min() > 9.5 and snr.max() < 30.5 and snr.std() > 3
    assert noise(rows, 0.0) is rows


# ----------------------------------------------------------------------------- settings and the loop


def test_settings_are_checked():
    for bad in ({"speed": 0.5}, {"speed": -0.1}, {"reverb": 1.5}, {"noise_snr": -3.0}, {"vtlp": 0.7}, {"vtlp": -0.1}, {"gain_db": -1.0}, {"freq_mask": 2.5}, {"time_mask": -3}, {"masks": 0}):
        with pytest.raises(ConfigError):
            TrainConfig(**bad)
    cfg = TrainConfig(speed=0.1, reverb=0.3, noise_snr=15.0, vtlp=0.1, freq_mask=8, time_mask=20, gain_db=6.0, masks=1)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.augmentation == Augmentation(speed=0.1, reverb=0.3, noise_snr=15.0, gain_db=6.0, vtlp=0.1, freq_mask=8,
                                            time_mask=20, masks=1)


def test_the_train_command_passes_the_augmentation_flags():
    args = build_parser().parse_args(["train", "--model", "sdnn", "--corpus", "c", "--out", "o", "--vtlp", "0.1",
                                      "--freq-mask", "8", "--time-mask", "20", "--masks", "1", "--gain-db", "6",
                                      "--weight-decay", "1e-4", "--speed", "0.1", "--reverb", "0.3", "--noise-snr", "15"])
    assert (args.vtlp, args.freq_mask, args.time_mask, args.masks, args.gain_db, args.weight_decay) == \
        (0.1, 8, 20, 1, 6.0, 1e-4)
    assert (args.speed, args.reverb, args.noise_snr) == (0.1, 0.3, 15.0)


def test_the_batcher_augments_training_batches_only(demo_train):
    from core.training import decode

    data = decode(demo_train, seconds=1.0)
    cfg = preset("stft-v8")
    clean = _Batcher(data.waves, [cfg], torch.device("cpu"), None)
    noisy = _Batcher(data.waves, [cfg], torch.device("cpu"), None, Augmentation(vtlp=0.1, time_mask=30))
    items = torch.tensor([[0, 0, -1], [1, 0, -1], [1, 0, -1]])
    x = clean(items)
    assert torch.equal(x, frontend(cfg)(data.waves[[0, 1, 1]]))
    torch.manual_seed(0)
    y = noisy(items)
    assert y.shape == x.shape and not torch.equal(y, x)
    assert not torch.equal(y[1], y[2])  # the same clip twice in a batch gets two draws


def test_the_batcher_speeds_up_padded_clips_and_keeps_them_whole():
    rows, spans, floor = bursts(6)
    cfg = preset("stft-v8")
    batcher = _Batcher(rows, [cfg], torch.device("cpu"), None, Augmentation(speed=0.1), spans=spans)
    torch.manual_seed(0)
    x = batcher(torch.tensor([[i, 0, -1] for i in range(6)]))
    plain = frontend(cfg)(rows)
    assert x.shape == plain.shape
    energy = x.exp().sum(1) if cfg.kind != "mfcc" else x[:, 0]
    loud = energy > energy.amax(1, keepdim=True) / 100
    lengths = loud.sum(1).float()  # frames of tone: 0.75 s / factor, wherever the shift put it
    assert lengths.std() > 2 and ((lengths > 0.75 / 1.1 * 100 - 8) & (lengths < 0.75 / 0.9 * 100 + 8)).all()


SMALL = {"model": "sdnn", "model_cfg": {"hidden": [16]}, "batch_size": 4, "seconds": 1.0, "device": "cpu",
         "vtlp": 0.1, "freq_mask": 6, "time_mask": 20, "gain_db": 6.0}


def test_an_augmented_run_resumes_to_the_same_weights_and_records_its_settings(demo_train, tmp_path):
    whole = fit(demo_train, TrainConfig(**SMALL, epochs=3), tmp_path / "whole", progress=False)
    fit(demo_train, TrainConfig(**SMALL, epochs=1), tmp_path / "parts", progress=False)
    resumed = fit(demo_train, TrainConfig(**SMALL, epochs=3), tmp_path / "parts", resume=True, progress=False)
    for key, value in whole.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    assert resumed.history == whole.history
    card = checkpoint.read_card(tmp_path / "whole" / "model")
    assert {k: card.training[k] for k in ("vtlp", "freq_mask", "time_mask", "masks", "gain_db")} == \
        {"vtlp": 0.1, "freq_mask": 6, "time_mask": 20, "masks": 2, "gain_db": 6.0}
    fit(demo_train, TrainConfig(**(SMALL | {"vtlp": 0.0, "freq_mask": 0, "time_mask": 0, "gain_db": 0.0}),
                                        epochs=3), tmp_path / "plain", progress=False)
    saved = load_file(str(tmp_path / "plain" / "model" / "model.safetensors"))
    assert any(not torch.equal(saved[k], v) for k, v in whole.model.state_dict().items())  # augmentation acted


def test_a_checkpoint_from_before_augmentation_still_resumes(demo_train, tmp_path):
    """Trainer states written before these settings existed lack them; they count as off."""
    import json

    settings = {"model": "sdnn", "model_cfg": {"hidden": [16]}, "batch_size": 4, "seconds": 1.0, "device": "cpu"}
    fit(demo_train, TrainConfig(**settings, epochs=1), tmp_path, progress=False)
    state_file = next((tmp_path / "checkpoints").glob("epoch-*/trainer.json"))
    state = json.loads(state_file.read_text())
    for key in ("vtlp", "freq_mask", "time_mask", "masks", "gain_db"):
        del state["config"][key]
    state_file.write_text(json.dumps(state))
    result = fit(demo_train, TrainConfig(**settings, epochs=2), tmp_path, resume=True, progress=False)
    assert len(result.history) == 2
