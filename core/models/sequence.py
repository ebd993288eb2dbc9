"""S2: MFCC sequence models (Mountzouris, Perikos, Hatzilygeroudis, Electronics 2023).

Input ``(B, 40 MFCCs, T frames)``; the frames are the steps of a sequence.

* ``sdnn``: dense layers on the time-averaged MFCCs.
* ``lstm``: LSTM -> last hidden state -> dense -> classes.
* ``lstm-atn``: LSTM + Luong dot-product attention.
* ``cnn-atn``: Conv1d blocks (Conv1d + BN + ReLU + dropout, optional max-pooling) + Luong attention.
* ``cnn1d``: the same Conv1d blocks, flattened into one dense layer (the paper's plain CNN).

The layer lists are settings, so one builder gives both our tuned defaults and the paper's models
(``core.presets`` sets the paper's values): per-block ``kernel`` and ``block_dropout`` rates and ``"valid"``
``padding`` for the CNNs, stacked LSTMs of different widths (``hidden=(100, 50)``) and ``per_coefficient`` dense
layers for the SDNN (Keras' ``Dense`` on the paper's ``(40, 1)`` input acts on each coefficient alone).

Luong dot-product attention (Luong et al., EMNLP 2015, "dot" score with the last step as query):
``score_t = h_t . h_last``, ``alpha = softmax_t(score)``, ``c = sum_t alpha_t h_t``,
``a = tanh(W_c [c; h_last])`` (no bias, as in Luong's eq. 5), logits = Linear(a); the softmax lives
in the loss. ``attention_weights(x)`` returns ``alpha`` ``(B, steps)``; step ``s`` covers frames
``[s * frames_per_step, (s + 1) * frames_per_step)`` (``frames_per_step = pool ** blocks`` for
cnn-atn, 1 otherwise); with ``"valid"`` padding step ``s`` is centred on frame ``s + shrink // 2``.

Every model starts with an optional per-coefficient BatchNorm of the MFCCs (``input_norm``):
MFCC scales differ by orders of magnitude (c0 is the log energy) and the LSTMs train badly on raw
values. That is our choice; the paper standardises its features before the network. ``cmn``
(off by default) first subtracts each clip's mean per coefficient (cepstral mean normalisation),
removing a speaker's fixed timbre and the channel colour, which helps on unseen speakers.
``query`` (cnn-atn): "last" (Luong; the paper) scores every step against the last one; "mean" against the
mean step. In a CNN the last step is no summary of the clip, as an LSTM's is, but the clip's end, and a
short word padded at a random offset ends in background noise; the mean step sees the word wherever it lies.
``scaled`` (cnn-atn, off by default) divides the scores by sqrt(H) as in scaled dot-product
attention: wide conv maps otherwise saturate the softmax at initialisation and stall training.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from core.models.base import SerModel, TimeLocalStem
from core.errors import ConfigError
from core.models.checks import check_bool, check_choice, check_float, check_int, check_ints
from core.models.layers import ClassifierHead, pad_frames, run_lstm
from core.models.registry import register_model
from core.models.spec import ModelSpec

_S2 = "S2 (Mountzouris et al., Electronics 2023)"


def luong_dot_attention(states: torch.Tensor, query: torch.Tensor, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``states`` ``(B, S, H)``, ``query`` ``(B, H)`` -> context ``(B, H)``, weights ``(B, S)``."""
    scores = torch.einsum("bsh,bh->bs", states, query) * scale
    weights = torch.softmax(scores, dim=1)
    return torch.einsum("bs,bsh->bh", weights, states), weights


QUERIES = ("last", "mean")


def _spec(name: str, description: str, **kw) -> ModelSpec:
    return ModelSpec(name=name, paper="S2", input_kind="mfcc-seq", feature_preset="mfcc40", min_frames=1,
                     description=f"{_S2}: {description}", **kw)


SDNN_SPEC = _spec("sdnn", "dense layers on the time-averaged MFCCs")
LSTM_SPEC = _spec("lstm", "LSTM over MFCC frames, last hidden state, dense head")
LSTM_ATN_SPEC = _spec("lstm-atn", "LSTM + Luong dot-product attention (last step vs all steps)", has_attention=True)
CNN_ATN_SPEC = _spec("cnn-atn", "Conv1d blocks (BN, ReLU, dropout) + Luong dot-product attention", has_attention=True,
                     cam_layers=("blocks.2",))
CNN1D_SPEC = _spec("cnn1d", "the plain CNN: Conv1d blocks (BN, ReLU, dropout), flatten, one dense layer",
                   cam_layers=("blocks.4",))
PADDINGS = ("same", "valid")


class LuongHead(nn.Module):
    """Luong attention over ``(B, S, H)`` with the last step (or the mean step) as query, then
    ``tanh(W_c [c; query])`` and a Linear."""

    def __init__(self, hidden: int, attn_dim: int, num_classes: int, dropout: float, scaled: bool = False,
                 query: str = "last"):
        super().__init__()
        self.scale = hidden ** -0.5 if scaled else 1.0
        self.query = query
        self.attn = nn.Linear(2 * hidden, attn_dim, bias=False)  # W_c
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(attn_dim, num_classes)
        self.num_features = attn_dim

    def _query(self, states: torch.Tensor) -> torch.Tensor:
        return states[:, -1] if self.query == "last" else states.mean(dim=1)

    def weights(self, states: torch.Tensor) -> torch.Tensor:
        return luong_dot_attention(states, self._query(states), self.scale)[1]

    def forward(self, states: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        query = self._query(states)
        context, _ = luong_dot_attention(states, query, self.scale)
        a = self.drop(torch.tanh(self.attn(torch.cat([context, query], dim=1))))
        return a if pre_logits else self.fc(a)


class SequenceModel(SerModel):
    frames_per_step = 1

    def __init__(self, n_mfcc: int, input_norm: bool, cmn: bool = False):
        super().__init__()
        self.bands = n_mfcc
        self.cmn = cmn
        self.input_norm = nn.BatchNorm1d(n_mfcc) if input_norm else nn.Identity()

    def _normed(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check_input(x)
        if self.cmn:  # cepstral mean normalisation: removes each clip's fixed timbre and channel colour
            x = x - x.mean(dim=2, keepdim=True)
        return self.input_norm(x)

    def n_steps(self, n_frames: int) -> int:
        return -(-n_frames // self.frames_per_step)

    def steps_to_frames(self, values: torch.Tensor, n_frames: int) -> torch.Tensor:
        """``(B, steps)`` -> ``(B, n_frames)``: each frame takes the value of the step covering it."""
        return values.repeat_interleave(self.frames_per_step, dim=1)[:, :n_frames]


class SDNN(SequenceModel):
    """Dense layers on the time-averaged MFCCs. ``per_coefficient``: the layers act on each coefficient alone
    (weights shared over the coefficients) and their ``(n_mfcc, last)`` output is flattened, as Keras' ``Dense``
    treats the paper's ``(40, 1)`` input."""

    default_spec = SDNN_SPEC

    def __init__(self, num_classes, n_mfcc, hidden, dropout, input_norm, cmn=False, per_coefficient=False):
        super().__init__(n_mfcc, input_norm, cmn)
        self.per_coefficient = per_coefficient
        layers, dim = [], 1 if per_coefficient else n_mfcc
        for h in hidden:
            layers += [nn.Linear(dim, h), nn.ReLU(), nn.Dropout(dropout)]
            dim = h
        self.mlp = nn.Sequential(*layers)
        self.num_features = dim * n_mfcc if per_coefficient else dim
        self.fc = nn.Linear(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The (normalised) MFCC sequence ``(B, n_mfcc, T)``: SDNN has no feature map but its input."""
        return self._normed(x)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        mean = features.mean(dim=2)
        emb = self.mlp(mean[..., None]).flatten(1) if self.per_coefficient else self.mlp(mean)
        return emb if pre_logits else self.fc(emb)


class LSTMStack(nn.Module):
    """LSTMs of different widths one after another (the paper's LSTM(100) -> LSTM(50)), no dropout between;
    called like ``nn.LSTM``: ``(out, (h, c))`` of the last one."""

    def __init__(self, n_in: int, widths: tuple[int, ...]):
        super().__init__()
        self.layers = nn.ModuleList(nn.LSTM(i, o, batch_first=True) for i, o in zip((n_in, *widths[:-1]), widths))

    def forward(self, x: torch.Tensor):
        for lstm in self.layers:
            x, state = lstm(x)
        return x, state


class LSTMModel(SequenceModel):
    """LSTM over the frames; the last step's hidden state -> dense -> classes. ``hidden`` an int: one
    ``nn.LSTM`` of ``layers`` equal layers; a tuple: stacked LSTMs of those widths (``LSTMStack``)."""

    default_spec = LSTM_SPEC

    def __init__(self, num_classes, n_mfcc, hidden, layers, dropout, input_norm, head_dim, cmn=False):
        super().__init__(n_mfcc, input_norm, cmn)
        if isinstance(hidden, tuple):
            self.lstm, hidden = LSTMStack(n_mfcc, hidden), hidden[-1]
        else:
            self.lstm = nn.LSTM(n_mfcc, hidden, num_layers=layers, batch_first=True,
                                dropout=dropout if layers > 1 else 0.0)
        self.head = self._make_head(hidden, num_classes, dropout, head_dim)  # dense width / attention size
        self.num_features = self.head.num_features

    def _make_head(self, hidden, num_classes, dropout, dense) -> nn.Module:
        return ClassifierHead(hidden, num_classes, hidden=dense, dropout=dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden states of the last LSTM layer, ``(B, T, hidden)``."""
        out, _ = run_lstm(self.lstm, self._normed(x).transpose(1, 2), self.training)
        return out

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(features[:, -1], pre_logits=pre_logits)


class LSTMAttention(LSTMModel):
    """LSTM + Luong dot-product attention; ``head.attn`` is W_c."""

    default_spec = LSTM_ATN_SPEC

    def _make_head(self, hidden, num_classes, dropout, attn_dim) -> nn.Module:
        return LuongHead(hidden, attn_dim, num_classes, dropout)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(features, pre_logits=pre_logits)

    def attention_weights(self, x: torch.Tensor) -> torch.Tensor:
        """Luong weights ``(B, T)`` (rows sum to 1); one step per frame."""
        return self.head.weights(self.forward_features(x))


class ConvBlock1d(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, dropout: float, pool: int, padding: str = "same"):
        super().__init__()
        self.conv = nn.Conv1d(in_ch, out_ch, kernel, padding=padding)
        self.bn = nn.BatchNorm1d(out_ch)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(dropout)
        self.pool = nn.MaxPool1d(pool, ceil_mode=True) if pool > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.drop(self.act(self.bn(self.conv(x)))))


class ConvStack1d(SequenceModel):
    """Conv1d blocks over the MFCC frames: the trunk of cnn-atn and cnn1d. Block ``i`` has ``channels[i]``
    filters of width ``kernels[i]`` and dropout ``dropouts[i]``. ``"valid"`` padding (no pooling) loses
    ``shrink = sum(kernel - 1)`` frames; shorter clips are padded at the tail with their floor to ``min_length``."""

    def __init__(self, n_mfcc, channels, kernels, pool, dropouts, padding, input_norm, cmn, min_length=1):
        super().__init__(n_mfcc, input_norm, cmn)
        blocks, in_ch = [], n_mfcc
        for c, k, rate in zip(channels, kernels, dropouts):
            blocks.append(ConvBlock1d(in_ch, c, k, rate, pool, padding))
            in_ch = c
        self.blocks = nn.Sequential(*blocks)
        self.pool = pool
        self.frames_per_step = pool ** len(channels)
        self.shrink = sum(k - 1 for k in kernels) if padding == "valid" else 0
        self.min_length = max(min_length, self.shrink + 1)
        self.out_channels = in_ch

    def adapt_spec(self, spec: ModelSpec) -> ModelSpec:
        return replace(spec, cam_layers=(f"blocks.{len(self.blocks) - 1}",))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last conv block's map ``(B, C, steps)`` (``n_steps``)."""
        return self.blocks(self._normed(pad_frames(self._check_input(x), self.min_length)))

    def n_steps(self, n_frames: int) -> int:
        return max(n_frames, self.min_length) - self.shrink if self.shrink else super().n_steps(n_frames)

    def steps_to_frames(self, values: torch.Tensor, n_frames: int) -> torch.Tensor:
        """``(B, steps)`` -> ``(B, n_frames)``; a valid stack's step ``s`` is centred on frame ``s + shrink // 2``."""
        if not self.shrink:
            return super().steps_to_frames(values, n_frames)
        at = (torch.arange(n_frames, device=values.device) - self.shrink // 2).clamp(0, values.shape[1] - 1)
        return values[:, at]

    def time_local_stem(self, x: torch.Tensor) -> TimeLocalStem | None:
        """Input norm and the conv blocks are local in time; the head reads every step. ``None`` with cepstral
        mean normalisation (the clip's mean) or a clip padded to ``min_length`` (its floor)."""
        if self.cmn or x.shape[-1] < self.min_length:
            return None
        layers = [self.input_norm] + [m for block in self.blocks for m in (block.conv, block.bn, block.act,
                                                                          block.drop, block.pool)]
        return TimeLocalStem(prepare=self._check_input, layers=layers, rest=self.forward_head)

    def cam_to_grid(self, cam: torch.Tensor, n_frames: int) -> torch.Tensor:
        """``cam`` ``(B, steps)`` of the last conv block -> ``(B, n_mfcc, n_frames)`` (constant over
        coefficients: the 1D convs mix all MFCCs at every step)."""
        return self.steps_to_frames(cam, n_frames)[:, None, :].expand(-1, self.bands, -1)


class CNNAttention(ConvStack1d):
    default_spec = CNN_ATN_SPEC

    def __init__(self, num_classes, n_mfcc, channels, kernels, pool, dropout, attn_dim, input_norm, cmn=False,
                 scaled=False, query="last", padding="same", block_dropout=None):
        super().__init__(n_mfcc, channels, kernels, pool, block_dropout or (dropout,) * len(channels), padding,
                         input_norm, cmn)
        self.head = LuongHead(self.out_channels, attn_dim, num_classes, dropout, scaled, query)
        self.num_features = attn_dim

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(features.transpose(1, 2), pre_logits=pre_logits)

    def attention_weights(self, x: torch.Tensor) -> torch.Tensor:
        """Luong weights ``(B, steps)`` (rows sum to 1); see ``frames_per_step``."""
        return self.head.weights(self.forward_features(x).transpose(1, 2))


class CNN1d(ConvStack1d):
    """The paper's plain CNN: the conv blocks' ``(steps, C)`` map flattened (time-major, as Keras' ``Flatten``)
    into one dense layer sized for ``frames`` input frames. Shorter clips are padded to ``frames``; of a longer
    clip's steps the head reads the first ``frames - shrink`` (the steps of its first ``frames`` frames)."""

    default_spec = CNN1D_SPEC

    def __init__(self, num_classes, n_mfcc, channels, kernels, padding, frames, dropout, block_dropout, input_norm,
                 cmn=False):
        super().__init__(n_mfcc, channels, kernels, 1, block_dropout or (dropout,) * len(channels), padding,
                         input_norm, cmn, min_length=frames)
        self.head_steps = frames - self.shrink
        self.head = ClassifierHead(self.head_steps * self.out_channels, num_classes, dropout=dropout)
        self.num_features = self.head.num_features

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(features[..., :self.head_steps].transpose(1, 2).flatten(1), pre_logits=pre_logits)


def _common(n_mfcc, dropout, input_norm):
    return check_int("n_mfcc", n_mfcc), check_float("dropout", dropout, 0.0, 1.0), check_bool("input_norm", input_norm)


def _per_block(name: str, value, n: int, check) -> tuple:
    """One value per conv block: a scalar for every block (ints only), or a list of exactly ``n``."""
    values = tuple(value) if isinstance(value, (list, tuple)) else None
    if values is None and check is check_int:
        values = (value,) * n
    if values is None or len(values) != n:
        raise ConfigError(f"setting '{name}' must list one value per conv block ({n}), not {value!r}.")
    return tuple(check(f"{name}[{i}]", v) for i, v in enumerate(values))


def _rate(name: str, value) -> float:
    return check_float(name, value, 0.0, 1.0)


def _conv_stack(channels, kernel, padding, pool, block_dropout):
    """Checked (channels, kernels, padding, block dropout or None) of a Conv1d stack."""
    channels = check_ints("channels", channels)
    kernels = _per_block("kernel", kernel, len(channels), check_int)
    padding = check_choice("padding", padding, PADDINGS)
    if padding == "valid" and pool != 1:
        raise ConfigError("setting 'padding' = valid works without pooling (pool = 1), as in the paper's CNNs.")
    rates = None if block_dropout is None else _per_block("block_dropout", block_dropout, len(channels), _rate)
    return channels, kernels, padding, rates


@register_model(SDNN_SPEC, demo={"hidden": (64, 32)})
def sdnn(num_classes: int, *, n_mfcc: int = 40, hidden: tuple[int, ...] = (256, 128), dropout: float = 0.2,
         input_norm: bool = True, cmn: bool = False, per_coefficient: bool = False) -> SDNN:
    n_mfcc, dropout, input_norm = _common(n_mfcc, dropout, input_norm)
    return SDNN(num_classes, n_mfcc, check_ints("hidden", hidden), dropout, input_norm, check_bool("cmn", cmn),
                check_bool("per_coefficient", per_coefficient))


def _lstm_widths(hidden, layers):
    """``hidden`` as an int (one ``nn.LSTM`` of ``layers`` layers) or a tuple of stacked widths (``layers`` 1)."""
    if isinstance(hidden, (list, tuple)):
        if layers != 1:
            raise ConfigError("setting 'layers' must be 1 when 'hidden' lists the stacked LSTMs' widths.")
        return check_ints("hidden", hidden)
    return check_int("hidden", hidden)


@register_model(LSTM_SPEC, demo={"hidden": 32, "dense": 16})
def lstm(num_classes: int, *, n_mfcc: int = 40, hidden: int | tuple[int, ...] = 128, layers: int = 1, dense: int = 64,
         dropout: float = 0.2, input_norm: bool = True, cmn: bool = False) -> LSTMModel:
    n_mfcc, dropout, input_norm = _common(n_mfcc, dropout, input_norm)
    layers = check_int("layers", layers)
    return LSTMModel(num_classes, n_mfcc, _lstm_widths(hidden, layers), layers, dropout,
                     input_norm, check_int("dense", dense, minimum=0), check_bool("cmn", cmn))


@register_model(LSTM_ATN_SPEC, demo={"hidden": 32, "attn_dim": 32})
def lstm_atn(num_classes: int, *, n_mfcc: int = 40, hidden: int | tuple[int, ...] = 128, layers: int = 1,
             attn_dim: int = 128, dropout: float = 0.2, input_norm: bool = True, cmn: bool = False) -> LSTMAttention:
    n_mfcc, dropout, input_norm = _common(n_mfcc, dropout, input_norm)
    layers = check_int("layers", layers)
    return LSTMAttention(num_classes, n_mfcc, _lstm_widths(hidden, layers), layers, dropout,
                         input_norm, check_int("attn_dim", attn_dim), check_bool("cmn", cmn))


@register_model(
    CNN_ATN_SPEC,
    demo={"channels": (16, 32, 32), "attn_dim": 32},
)
def cnn_atn(num_classes: int, *, n_mfcc: int = 40, channels: tuple[int, ...] = (64, 128, 256),
            kernel: int | tuple[int, ...] = 5, pool: int = 1, attn_dim: int = 128, dropout: float = 0.2,
            input_norm: bool = True, cmn: bool = False, scaled: bool = False, query: str = "last",
            padding: str = "same", block_dropout: tuple[float, ...] | None = None) -> CNNAttention:
    """``kernel``: one width for every block or one per block; ``block_dropout``: the blocks' rates (None:
    ``dropout``, which the attention head always uses)."""
    n_mfcc, dropout, input_norm = _common(n_mfcc, dropout, input_norm)
    pool = check_int("pool", pool)
    channels, kernels, padding, rates = _conv_stack(channels, kernel, padding, pool, block_dropout)
    return CNNAttention(num_classes, n_mfcc, channels, kernels, pool, dropout, check_int("attn_dim", attn_dim), input_norm,
                        check_bool("cmn", cmn), check_bool("scaled", scaled), check_choice("query", query, QUERIES),
                        padding, rates)


@register_model(
    CNN1D_SPEC,
    demo={"channels": (8, 8), "kernel": (5, 3), "frames": 48, "block_dropout": (0.5, 0.0)},
)
def cnn1d(num_classes: int, *, n_mfcc: int = 40, channels: tuple[int, ...] = (64, 64, 32, 32, 16),
          kernel: int | tuple[int, ...] = (9, 7, 5, 5, 3), padding: str = "valid", frames: int = 228,
          dropout: float = 0.0, block_dropout: tuple[float, ...] | None = (0.5, 0.5, 0.5, 0.5, 0.0),
          input_norm: bool = True, cmn: bool = False) -> CNN1d:
    """The defaults are the paper's plain CNN on RAVDESS (228 x 40 in, 3264 flattened; see ``core.presets``);
    ``dropout``: before the dense layer, and every block's when ``block_dropout`` is None."""
    n_mfcc, dropout, input_norm = _common(n_mfcc, dropout, input_norm)
    channels, kernels, padding, rates = _conv_stack(channels, kernel, padding, 1, block_dropout)
    frames = check_int("frames", frames)
    shrink = sum(k - 1 for k in kernels) if padding == "valid" else 0
    if frames <= shrink:
        raise ConfigError(f"setting 'frames' = {frames} leaves no step after the valid convolutions (they take "
                          f"{shrink} frames); use frames > {shrink}.")
    return CNN1d(num_classes, n_mfcc, channels, kernels, padding, frames, dropout, rates, input_norm,
                 check_bool("cmn", cmn))
