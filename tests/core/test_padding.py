"""Padding short clips: noise at the clip's own background level, and random placement in training."""

import numpy as np
import pytest
import torch

from core.audio import fit_length, noise_floor, shift_within

SR = 16_000


def word_in_noise(seconds=0.8, floor=0.01, seed=0):
    """A 'word' (a loud tone burst) between quiet background noise, as a recorded single word is."""
    g = torch.Generator().manual_seed(seed)
    wave = torch.randn(int(seconds * SR), generator=g) * floor
    t = torch.arange(int(seconds / 2 * SR)) / SR
    start = int(seconds / 4 * SR)
    wave[start:start + len(t)] += 0.5 * torch.sin(2 * torch.pi * 220 * t)
    return wave


def test_noise_floor_is_the_background_level_not_the_speech_level():
    wave = word_in_noise(floor=0.01)
    assert noise_floor(wave, SR) == pytest.approx(0.01, rel=0.25)
    assert noise_floor(wave, SR) < 0.1 * float(wave.pow(2).mean().sqrt())


def test_noise_floor_padding_keeps_the_clip_and_fills_the_rest_at_its_floor():
    wave = word_in_noise()
    out, start = fit_length(wave, 2 * SR, "noise-floor")
    assert out.shape == (2 * SR,) and start == (2 * SR - len(wave)) // 2
    assert torch.equal(out[start:start + len(wave)], wave)
    pad = torch.cat([out[:start], out[start + len(wave):]])
    assert float(pad.pow(2).mean().sqrt()) == pytest.approx(noise_floor(wave, SR), rel=0.05)
    again, _ = fit_length(wave, 2 * SR, "noise-floor")
    assert torch.equal(out, again)  # the same clip always gets the same input


def test_zero_padding_is_the_centred_fix_length_and_long_clips_are_cropped_either_way():
    wave = word_in_noise()
    zeros, start = fit_length(wave, 2 * SR, "zeros")
    assert start == (2 * SR - len(wave)) // 2 and float(zeros[:start].abs().max()) == 0.0
    for padding in ("zeros", "noise-floor"):
        cropped, start = fit_length(wave, SR // 2, padding)
        assert start == 0 and torch.equal(cropped, wave[len(wave) // 2 - SR // 4: len(wave) // 2 + SR // 4])
    with pytest.raises(ValueError, match="padding"):
        fit_length(wave, SR, "reflect")


def test_a_random_shift_moves_the_whole_clip_and_only_padding_wraps():
    torch.manual_seed(0)
    clips = [word_in_noise(0.5, seed=1), word_in_noise(0.8, seed=2), word_in_noise(1.0, seed=3)]
    rows, starts = zip(*(fit_length(c, SR, "noise-floor") for c in clips))
    waves = torch.stack(rows)
    lengths = torch.tensor([len(c) for c in clips])
    seen = set()
    for _ in range(20):
        moved = shift_within(waves, torch.tensor(starts), lengths)
        for i, clip in enumerate(clips):
            hits = [s for s in range(SR - len(clip) + 1) if torch.equal(moved[i, s:s + len(clip)], clip)]
            assert len(hits) == 1, "the clip must appear whole, once"
            seen.add((i, hits[0]))
    assert len({s for i, s in seen if i == 0}) > 5  # the short clip really moves
    assert {s for i, s in seen if i == 2} == {0}  # a clip that fills its row stays put


def test_training_with_noise_floor_padding_records_it_and_analysis_pads_the_same_way(tmp_path):
    from core import checkpoint, models
    from core.audio import Clip
    from core.explain.analysis import card_fields, model_input
    from core.features import preset

    cfg = preset("stft-v8")
    model = models.build("cnn-eca", 3, n=1)
    card = {"labels": ["angry", "fearful", "neutral"], "features": cfg,
            "training": {"seconds": 1.7, "padding": "noise-floor"}}
    saved = checkpoint.save(model, card, tmp_path / "m")
    fields = card_fields(saved)
    assert fields.padding == "noise-floor" and fields.seconds == 1.7
    wave = word_in_noise()
    clip = Clip(wave=wave, sr=SR, source_sr=SR, source_channels=1, sha256="x")
    heard, _, start = model_input(clip, cfg, fields.seconds, torch.device("cpu"), fields.padding)
    expected, expected_start = fit_length(wave, int(1.7 * SR), "noise-floor")
    assert start == expected_start and torch.equal(heard, expected)
    assert np.isclose(float(heard[:start].pow(2).mean().sqrt()), noise_floor(wave, SR), rtol=0.1)
