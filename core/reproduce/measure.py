"""Model size and cost as the papers report them: trainable parameters and FLOPs of one clip's forward pass.

FLOPs come from torch's own counter (``torch.utils.flop_counter.FlopCounterMode``), which counts a multiply-add
as two operations; a paper that counts multiply-adds (MACs) reports half of our figure. The counter has no
formula for the fused recurrent kernels (``nn.LSTM``, ``nn.GRU``), so their matrix products are added by the
usual one: per step and layer, 2 x gates x hidden x (input + hidden) (4 gates for an LSTM, 3 for a GRU).
"""

from __future__ import annotations

from contextlib import ExitStack

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from core import models
from core.features import num_frames, preset as feature_preset

GATES = {nn.LSTM: 4, nn.GRU: 3}


def input_shape(model: models.SerModel, features: str | None, seconds: float) -> tuple[int, int, int]:
    """``(1, bands, frames)``: one clip of ``seconds`` through ``features`` (the model's own preset when None)."""
    cfg = feature_preset(features or model.spec.feature_preset)
    return 1, cfg.n_bands, num_frames(int(round(seconds * cfg.sample_rate)), cfg)


def recurrent_flops(module: nn.RNNBase, steps: int, batch: int) -> int:
    """Matrix-product FLOPs of one pass of ``module`` (an LSTM or GRU) over ``steps`` steps of ``batch`` sequences."""
    gates = next(g for kind, g in GATES.items() if isinstance(module, kind))
    directions = 2 if module.bidirectional else 1
    total = 0
    for layer in range(module.num_layers):
        n_in = module.input_size if layer == 0 else module.hidden_size * directions
        total += 2 * gates * module.hidden_size * (n_in + module.hidden_size) * directions
    return total * steps * batch


def cost(model_name: str, model_cfg: dict, num_classes: int, features: str | None, seconds: float) -> dict:
    """``{"params": trainable parameters, "flops": one forward pass of one clip, "input": [1, bands, frames]}``."""
    model = models.build(model_name, num_classes, **model_cfg).eval()
    shape = input_shape(model, features, seconds)
    recurrent = []

    def count(module, inputs, _output):
        x = inputs[0]
        steps, batch = (x.shape[1], x.shape[0]) if module.batch_first else (x.shape[0], x.shape[1])
        recurrent.append(recurrent_flops(module, steps, batch if x.dim() == 3 else 1))

    counter = FlopCounterMode(display=False)
    with ExitStack() as hooks, counter, torch.no_grad():
        for module in model.modules():
            if isinstance(module, tuple(GATES)):
                hooks.callback(module.register_forward_hook(count).remove)
        model(torch.zeros(shape))
    return {"params": models.num_parameters(model), "flops": int(counter.get_total_flops()) + sum(recurrent),
            "input": list(shape)}
