"""The residual network sees physical inputs: no seam at lon +-180, no absolute time."""

from __future__ import annotations

import torch

from ionofield.model import RSTMRF, physical_inputs


def _field(model: RSTMRF, lat: torch.Tensor, lon: torch.Tensor, time_s: torch.Tensor):
    coords = torch.stack([lat, lon, torch.full_like(lat, 350.0)], -1)
    drivers = torch.zeros(1, 4, 2)
    win = torch.zeros(lat.shape[0], dtype=torch.long)
    return model.field(coords, time_s, drivers, win, torch.full_like(lat, 300.0))[0]


def test_prediction_at_lon_minus_180_equals_lon_180(tiny_cfg):
    torch.manual_seed(0)
    model = RSTMRF(tiny_cfg.model, use_tec=False)
    for p in model.decoder[-1].parameters():  # the zero-initialised head would hide a seam
        torch.nn.init.normal_(p)
    lat = torch.tensor([-60.0, 0.0, 33.0])
    t = torch.full((3,), 1641038400.0, dtype=torch.float64)
    west = _field(model, lat, torch.full((3,), -180.0), t)
    east = _field(model, lat, torch.full((3,), 180.0), t)
    assert torch.allclose(west, east, atol=1e-5)
    near = _field(model, lat, torch.full((3,), 179.0), t)
    assert not torch.allclose(west, near, atol=1e-5)  # the test can see a change


def test_same_day_of_year_a_year_later_gives_the_same_inputs():
    lat, lon = torch.tensor([10.0, -40.0]), torch.tensor([100.0, -170.0])
    t = torch.tensor([1641038400.0, 1641060000.0], dtype=torch.float64)
    geo0, tim0 = physical_inputs(lat, lon, t)
    geo1, tim1 = physical_inputs(lat, lon, t + 365 * 86400.0)
    assert torch.allclose(geo0, geo1, atol=2e-2) and torch.allclose(tim0, tim1, atol=2e-2)
