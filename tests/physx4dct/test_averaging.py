"""Averaged weights: the running mean / EMA rule, checkpointed, restored on --resume and
used by `load_model` (the raw last iterate stays available)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from common.checkpoint import load_checkpoint
from common.config import ConfigError
from physx4dct.averaging import ParamAverage
from physx4dct.train import fit, load_model
from tests.physx4dct.test_train import _cfg


def _set(model: nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)


def test_running_mean_then_ema():
    model, avg = nn.Linear(2, 1), ParamAverage(0.5)
    for v in (1.0, 2.0, 3.0):  # count 1, 2: the plain mean; count 3: weight max(0.5, 1/3)
        _set(model, v)
        avg.update(model)
    assert torch.allclose(avg.avg["weight"], torch.full((1, 2), 0.5 * 1.5 + 0.5 * 3.0))
    _set(model, 0.0)
    avg.copy_to(model)
    assert torch.allclose(model.bias, torch.tensor([2.25]))
    back = ParamAverage.from_state(avg.state_dict())  # what load_model rebuilds
    assert (back.decay, back.count) == (0.5, 3)
    assert all(torch.equal(back.avg[k], v) for k, v in avg.avg.items())


def test_shape_change_restarts_the_average():
    avg = ParamAverage(0.9)
    avg.update(nn.Linear(2, 1))
    bigger = nn.Linear(3, 1)
    avg.update(bigger)
    assert avg.count == 1 and avg.avg["weight"].shape == (1, 3)
    with pytest.raises(ValueError, match="shapes"):
        avg.copy_to(nn.Linear(2, 1))


def test_fit_saves_the_average_and_resume_is_exact(tiny_scan_path, tmp_path):
    cfg = _cfg(**{"train.ema_decay": 0.8, "train.ema_start": -1})
    full = tmp_path / "full"
    fit(cfg, full, data=tiny_scan_path)
    last = full / "checkpoints" / "last.pt"
    ema = load_checkpoint(last)["ema"]
    assert ema["count"] == cfg.train.iterations - cfg.gaussians.densify_until
    raw, _ = load_model(last, averaged=False)
    avg, _ = load_model(last)
    assert not torch.equal(raw.cloud.density_raw, avg.cloud.density_raw)
    assert torch.equal(avg.cloud.density_raw, ema["avg"]["cloud.density_raw"])

    part = tmp_path / "part"
    fit(cfg, part, data=tiny_scan_path, stop_after=13)  # inside the averaging window
    fit(cfg, part, data=tiny_scan_path, resume=True)
    again = load_checkpoint(part / "checkpoints" / "last.pt")["ema"]
    assert again["count"] == ema["count"]
    for k, v in ema["avg"].items():
        assert torch.equal(v, again["avg"][k]), k


def test_decay_out_of_range_is_refused():
    with pytest.raises(ConfigError, match="ema_decay"):
        _cfg(**{"train.ema_decay": 1.0})
