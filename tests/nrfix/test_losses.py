"""Each loss mode is finite, differentiable and sees constraint violations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nrfix.config import LossConfig, ModelConfig
from nrfix.data import generate
from nrfix.losses import ConstraintLoss
from nrfix.model import NRFixNet


@pytest.mark.parametrize("mode", ["logscale_dynamic", "uncertainty", "improvement"])
def test_loss_modes(mode):
    g = generate(
        "bowen_york",
        {"punctures": [{"m": 0.5, "pos": [0.1, 0, 0.2], "P": [0.3, 0, 0]}]},
        (12, 12, 12),
        0.25,
        np.full(3, -1.4),
    )
    x = torch.from_numpy(g.vars)[None]
    model = NRFixNet(ModelConfig(channels=4, blocks=1))
    torch.nn.init.normal_(model.tail.weight, std=0.1)
    loss_fn = ConstraintLoss(LossConfig(mode=mode))
    loss, metrics = loss_fn(x, model(x), g.dx, model.var_mask)
    loss.backward()
    assert torch.isfinite(loss) and metrics["ham_rms"] > 0
    assert model.tail.weight.grad.abs().sum() > 0
    if (
        mode == "improvement"
    ):  # identity: Ham ratio exactly 1, Mom ratio <= 1 (floored), no data term
        ident = NRFixNet(ModelConfig(channels=4, blocks=1))
        value = loss_fn(x, ident(x), g.dx, ident.var_mask)[0].item()
        assert 1.9 < value <= 2.0 + 1e-12


def test_unknown_mode():
    with pytest.raises(ValueError, match="unknown loss mode"):
        ConstraintLoss(LossConfig(mode="l2"))
