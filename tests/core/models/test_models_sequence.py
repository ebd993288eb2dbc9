"""S2: MFCC sequence models (Mountzouris et al., Electronics 2023) and Luong dot-product attention."""

import math

import pytest
import torch

from core import models
from core.errors import ConfigError


def mfcc(batch=2, frames=7, seed=0):
    return torch.randn(batch, 40, frames, generator=torch.Generator().manual_seed(seed)) * 3


def luong_by_hand(states, w_c, fc, query="last"):
    """Loop-by-loop Luong attention, 'dot' score against the last (or the mean) step: (logits, weights)."""
    logits, weights = [], []
    for h in states:  # one clip: (S, H)
        last = h[-1] if query == "last" else sum(h[t] for t in range(len(h))) / len(h)
        scores = [float(torch.dot(h[t], last)) for t in range(len(h))]
        top = max(scores)
        exp = [math.exp(s - top) for s in scores]
        alpha = torch.tensor([e / sum(exp) for e in exp])
        context = sum(alpha[t] * h[t] for t in range(len(h)))
        a = torch.tanh(w_c @ torch.cat([context, last]))
        logits.append(fc.weight @ a + fc.bias)
        weights.append(alpha)
    return torch.stack(logits), torch.stack(weights)


@pytest.mark.parametrize("name,cfg", [
    ("lstm-atn", {"hidden": 6, "attn_dim": 5}),
    ("cnn-atn", {"channels": [8, 6], "attn_dim": 5}),
    ("cnn-atn", {"channels": [8, 6], "attn_dim": 5, "pool": 2}),
    ("cnn-atn", {"channels": [8, 6], "attn_dim": 5, "query": "mean"}),
])
def test_luong_attention_equals_a_hand_computation(name, cfg):
    torch.manual_seed(0)
    m = models.build(name, 3, dropout=0.0, **cfg).eval()
    x = mfcc(frames=9)
    with torch.no_grad():
        feats = m.forward_features(x)
        states = feats if name == "lstm-atn" else feats.transpose(1, 2)  # (B, steps, H)
        logits, weights = luong_by_hand(states.double(), m.head.attn.weight.double(), m.head.fc.double(),
                                        cfg.get("query", "last"))
        m.head.fc.float()
        torch.testing.assert_close(m(x), logits.float(), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(m.attention_weights(x), weights.float(), rtol=1e-5, atol=1e-6)
    assert m.head.attn.bias is None and m.head.attn.in_features == 2 * states.shape[-1]


def test_attention_weights_sum_to_one_and_steps_map_to_frames():
    torch.manual_seed(0)
    m = models.build("cnn-atn", 4, channels=[8, 8, 8], pool=2).eval()
    assert m.frames_per_step == 8
    for frames in (101, 8, 3):
        with torch.no_grad():
            w = m.attention_weights(mfcc(frames=frames))
        assert w.shape == (2, math.ceil(frames / 8)) == (2, m.n_steps(frames))
        torch.testing.assert_close(w.sum(1), torch.ones(2))
    per_frame = m.steps_to_frames(torch.arange(13.0)[None], 101)
    assert per_frame.shape == (1, 101) and per_frame[0, 7] == 0 and per_frame[0, 8] == 1 and per_frame[0, 100] == 12
    assert models.build("cnn-atn", 4, channels=[8, 8]).frames_per_step == 1


def test_an_unknown_query_is_refused_by_name():
    with pytest.raises(ConfigError, match="query"):
        models.build("cnn-atn", 3, query="first")


def test_cnn_atn_cam_layer_is_the_last_conv_block():
    m = models.build("cnn-atn", 4, channels=[8, 8, 8, 8])
    assert m.spec.cam_layers == ("blocks.3",)
    block = m.get_submodule("blocks.3")
    assert isinstance(block.conv, torch.nn.Conv1d) and isinstance(block.bn, torch.nn.BatchNorm1d)
    assert isinstance(block.drop, torch.nn.Dropout)


def test_sdnn_sees_only_the_time_average():
    torch.manual_seed(0)
    m = models.build("sdnn", 4, **models.demo_config("sdnn")).eval()
    x = mfcc(frames=30)
    with torch.no_grad():
        torch.testing.assert_close(m(x), m(x[..., torch.randperm(30)]))
        torch.testing.assert_close(m(x), m(x.mean(-1, keepdim=True)))


def test_lstm_reads_the_sequence_in_order_and_classifies_its_last_state():
    torch.manual_seed(0)
    m = models.build("lstm", 4, **models.demo_config("lstm")).eval()
    x = mfcc(frames=30)
    with torch.no_grad():
        assert not torch.allclose(m(x), m(x.flip(-1)))
        states = m.forward_features(x)
        assert states.shape == (2, 30, 32)
        torch.testing.assert_close(m(x), m.head(states[:, -1]))
        torch.testing.assert_close(m(x[..., :10]), m.head(m.lstm(m.input_norm(x).transpose(1, 2))[0][:, 9]))
