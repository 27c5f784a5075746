"""Each loss mode is finite, differentiable and sees constraint violations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nrfix.config import LossConfig, ModelConfig
from nrfix.data import generate
from nrfix.losses import ConstraintLoss
from nrfix.model import NRFixNet


@pytest.mark.parametrize("mode", ["logscale_dynamic", "uncertainty", "improvement", "log_ratio"])
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
    if mode == "log_ratio":  # identity: zero log gain, Mom ratio <= 1
        ident = NRFixNet(ModelConfig(channels=4, blocks=1))
        value = loss_fn(x, ident(x), g.dx, ident.var_mask)[0].item()
        assert 0.9 < value <= 1.0 + 1e-12


def test_unknown_mode():
    with pytest.raises(ValueError, match="unknown loss mode"):
        ConstraintLoss(LossConfig(mode="l2"))


def test_improvement_bounded_on_constraint_free_crop():
    """A crop far from a momentum-free puncture has |Ham_x| ~ 1e-8 (truncation only): the
    unfloored ratio <Ham_y^2>/<Ham_x^2> was ~1e10 there; the floored one stays O(1)."""
    torch.manual_seed(0)
    bank = generate(
        "bowen_york",
        {"punctures": [{"m": 0.5, "pos": [0.1, 0, 0.2], "P": [0.3, 0, 0]}]},
        (16, 16, 16),
        0.25,
        np.full(3, -1.9),
    )
    far = generate(
        "bowen_york",
        {"punctures": [{"m": 0.5, "pos": [6.0, 0, 0], "P": [0.0, 0, 0]}]},
        (12, 12, 12),
        0.25,
        np.full(3, -1.4),
    )
    x = torch.from_numpy(far.vars)[None]
    model = NRFixNet(ModelConfig(channels=4, blocks=1))
    torch.nn.init.normal_(model.tail.weight, std=0.1)
    loss_fn = ConstraintLoss(LossConfig(mode="improvement"))
    ref = loss_fn.set_reference(torch.from_numpy(bank.vars)[None], bank.dx)
    assert ref[0] > 1e-3 and ref[1] > 0  # global input scales of the "training" bank
    loss, metrics = loss_fn(x, model(x), far.dx, model.var_mask)
    loss.backward()
    assert metrics["ham_rms"] > 0
    assert torch.isfinite(loss) and 0 < loss.item() < 10.0
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert all(torch.isfinite(g).all() for g in grads)
    assert max(float(g.abs().max()) for g in grads) < 1e3
    ident = NRFixNet(ModelConfig(channels=4, blocks=1))  # identity: ratios <= 1, loss ~ 0
    assert 0 <= loss_fn(x, ident(x), far.dx, ident.var_mask)[0].item() <= 2.0


def test_lr_warmup_schedule():
    """fit's optimizer follows common.schedule.warmup_cosine down to train.lr_floor."""
    from common.config import load_config
    from nrfix.config import PRESETS_DIR, Config
    from nrfix.losses import ConstraintLoss as Loss
    from nrfix.train import make_optimizer

    sets = ["train.steps=100", "train.warmup_steps=10", "train.lr=1e-3", "train.lr_floor=0.2"]
    cfg = load_config(Config, preset="tiny", presets_dir=PRESETS_DIR, sets=sets)
    opt, sched = make_optimizer(NRFixNet(cfg.model), Loss(cfg.loss), cfg)
    lrs = []
    for _ in range(101):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert max(lrs) == pytest.approx(1e-3) and lrs[100] == pytest.approx(2e-4)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))  # monotone cosine decay
