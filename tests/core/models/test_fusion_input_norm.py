"""S3 fusion's optional per-band input normalisation (off by default, as in the paper)."""

import torch

from core import models


def test_input_norm_is_off_by_default_and_adds_only_a_band_batchnorm():
    plain = models.build("fusion", 4, **models.demo_config("fusion"))
    normed = models.build("fusion", 4, **models.demo_config("fusion"), input_norm=True)
    assert not any(k.startswith("input_norm") for k in plain.state_dict())
    extra = set(normed.state_dict()) - set(plain.state_dict())
    assert extra == {f"input_norm.{k}" for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}
    assert normed.input_norm.num_features == 64


def test_training_batches_are_standardised_per_band():
    """In training mode a per-band offset and scale of the log-mel input (a fixed channel colour or
    gain) does not change the output; the default model does change."""
    torch.manual_seed(0)
    x = torch.randn(6, 64, 150)
    offset, scale = torch.randn(1, 64, 1) * 3, torch.rand(1, 64, 1) + 0.5
    for input_norm, invariant in ((True, True), (False, False)):
        torch.manual_seed(1)
        m = models.build("fusion", 4, **models.demo_config("fusion"), dropout=0.0, input_norm=input_norm).train()
        with torch.no_grad():
            a, b = m(x), m(x * scale + offset)
        assert torch.allclose(a, b, atol=1e-3) == invariant
