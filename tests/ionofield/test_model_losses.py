"""Model shapes, loss physics and the hourly TEC-context cache."""

from __future__ import annotations

import pytest
import torch

from ionofield.losses import (
    chapman_curvature_loss,
    direction_loss,
    horizontal_gradient,
    map_gradient,
)
from ionofield.model import sample_maps
from ionofield.tec import chapman_log_ne


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_direction_loss_invariant_to_magnitude(dtype, tol):
    g = torch.randn(64, 2, dtype=dtype, generator=torch.Generator().manual_seed(0))
    d = torch.randn(64, 2, dtype=dtype, generator=torch.Generator().manual_seed(1))
    base = direction_loss(g, d)
    for scale in (1e-3, 0.5, 7.0, 1e4):
        assert float(direction_loss(scale * g, d)) == pytest.approx(float(base), abs=tol)
        assert float(direction_loss(g, scale * d)) == pytest.approx(float(base), abs=tol)
    assert float(direction_loss(g, g)) == pytest.approx(0.0, abs=tol)
    assert float(direction_loss(g, -g)) == pytest.approx(2.0, abs=tol)


def test_chapman_curvature_loss_zero_for_chapman_profile():
    alt = torch.linspace(150, 900, 200, dtype=torch.float64, requires_grad=True)
    log_ne = chapman_log_ne(alt, torch.tensor(12.0, dtype=torch.float64), 300.0, 60.0)
    (g,) = torch.autograd.grad(log_ne.sum(), alt, create_graph=True)
    (g2,) = torch.autograd.grad(g.sum(), alt)
    kappa = g2 * 1e4
    assert float(chapman_curvature_loss(kappa, kappa_max=20.0)) == 0.0  # a Chapman layer is allowed
    assert float(chapman_curvature_loss(-kappa, kappa_max=20.0)) > 0.0  # a convex profile is not


def test_grid_sample_reads_the_right_cell():
    lat = torch.arange(87.5, -87.6, -2.5)
    lon = torch.arange(-180.0, 180.1, 5.0)
    maps = torch.stack([lat[:, None].expand(71, 73), lon[None, :].expand(71, 73)])[None]
    pts_lat, pts_lon = torch.tensor([40.0, -12.5, 0.0]), torch.tensor([-100.0, 35.0, 179.0])
    got = sample_maps(maps, torch.zeros(3, dtype=torch.long), pts_lat, pts_lon)
    torch.testing.assert_close(got, torch.stack([pts_lat, pts_lon], -1), atol=1e-4, rtol=0)


def test_map_gradient_direction():
    lat = torch.arange(87.5, -87.6, -2.5, dtype=torch.float64)
    tec = (10 + 0.2 * lat)[:, None].expand(71, 73)[None].clone()  # TEC grows northwards
    g = map_gradient(tec, lat)
    assert torch.allclose(g[0, 1, 1:-1], torch.full((69, 73), 0.2, dtype=torch.float64))
    assert torch.allclose(g[0, 0], torch.zeros(71, 73, dtype=torch.float64))
    east = horizontal_gradient(torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor([60.0]))
    assert float(east[0, 0]) == pytest.approx(2.0)  # d/dlon / cos(60 deg)


@pytest.fixture(scope="module")
def trained_bits(tiny_cfg, tiny_prepared):
    from ionofield.train import build_model

    prep, split = tiny_prepared
    torch.manual_seed(0)
    return tiny_cfg, prep, split, build_model(tiny_cfg, prep).eval()


def test_forward_shapes_and_unique_windows(trained_bits):
    from ionofield.prepare import make_batch

    cfg, prep, split, model = trained_bits
    idx = torch.as_tensor(split[0][:200])
    b = make_batch(prep, idx, cfg.data.tec_seq_len, True, torch.device("cpu"), cfg.data.tec_stride)
    n_unique = int(torch.unique(prep.hour_idx[idx]).numel())
    assert b["drivers"].shape == (n_unique, cfg.data.seq_len, 2)
    assert b["tec"].shape == (n_unique, cfg.data.tec_seq_len, 36, 37)
    out = model(b)
    assert out["residual"].shape == (200,) and out["d_resid"].shape == (200, 3)
    assert out["direction_maps"].shape == (n_unique, 2, 36, 37)
    # the direction head never modulates the field
    b2 = dict(b, tec=torch.zeros_like(b["tec"]))
    torch.testing.assert_close(model(b2)["residual"], out["residual"])


def test_direction_maps_are_the_models_head_on_the_hour_windows(trained_bits):
    from ionofield.evaluate import direction_maps

    cfg, prep, _, model = trained_bits
    d = direction_maps(model, prep, cfg, torch.tensor([0, 3, 10_000]))  # last one is clamped
    s = cfg.data.tec_stride
    assert d.shape == (3, 2, prep.tec.shape[1] // s + 1, prep.tec.shape[2] // s + 1)
    last = prep.tec.shape[0] - 1
    win = torch.arange(last - cfg.data.tec_seq_len + 1, last + 1).clamp_min(0)
    with torch.no_grad():
        ref = model.tec_direction(prep.tec[win][None, :, ::s, ::s].contiguous())[0]
    torch.testing.assert_close(d[2], ref)


def test_autograd_derivatives_match_finite_differences(trained_bits):
    """d r/dlat, d r/dlon and d2 r/dh2 (with the hmF2 input, linear in altitude) equal central
    differences of the residual (float64 copy of the model)."""
    import copy

    from ionofield.prepare import make_batch

    cfg, prep, split, model = trained_bits
    m = copy.deepcopy(model).double()
    torch.manual_seed(3)  # the output layer starts at zero: give the residual some structure
    torch.nn.init.normal_(m.decoder[-1].weight, std=0.5)
    idx = torch.as_tensor(split[0][:40])
    b = make_batch(prep, idx, cfg.data.tec_seq_len, False, torch.device("cpu"))
    b = {k: v.double() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in b.items()}
    assert cfg.model.hmf2_input and "hmf2" in b
    d = m(b)["d_resid"].detach()
    assert d.abs().amin(0).gt(0).all()

    def r(shift: torch.Tensor) -> torch.Tensor:
        return m(dict(b, coords=b["coords"] + shift), derivatives=False)["residual"].detach()

    e = torch.eye(3, dtype=torch.float64)
    for k, h in ((0, 1e-3), (1, 1e-3)):
        fd = (r(h * e[k]) - r(-h * e[k])) / (2 * h)
        torch.testing.assert_close(d[:, k], fd, rtol=1e-4, atol=1e-6)
    h = 0.5  # km
    fd2 = (r(h * e[2]) - 2 * r(0 * e[2]) + r(-h * e[2])) / h**2 * 1e4
    torch.testing.assert_close(d[:, 2], fd2, rtol=1e-3, atol=1e-4)
