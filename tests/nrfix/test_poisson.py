"""The poisson output operator: exact inverse of the 4th-order Laplacian, and a pointwise
Bowen-York source through it removes most of the Hamiltonian violation."""

from __future__ import annotations

import numpy as np
import torch

from nrfix.api import summarize
from nrfix.config import ModelConfig
from nrfix.constraints import C_A, diff2, sym_to_full
from nrfix.data import generate
from nrfix.model import NRFixNet, poisson_chi, project, rescale_a
from nrfix.poisson import inverse_laplacian


def _lap_interior(u: torch.Tensor) -> torch.Tensor:
    """The constraint check's 4th-order Laplacian (dx = 1) on the cells 2 away from every face."""
    d2 = diff2(u, 1.0)
    return d2[..., 0, 0, :, :, :] + d2[..., 1, 1, :, :, :] + d2[..., 2, 2, :, :, :]


def test_inverse_laplacian_is_exact_with_nonzero_mean():
    torch.manual_seed(0)
    s = torch.zeros(2, 1, 14, 16, 18, dtype=torch.float64)
    s[..., 3:11, 4:12, 5:13] = torch.randn(2, 1, 8, 8, 8, dtype=torch.float64) + 2.0
    u = inverse_laplacian(s)
    err = (_lap_interior(u) - s[..., 2:-2, 2:-2, 2:-2]).abs().max()
    assert err < 1e-11 * s.abs().max()


def test_zero_source_model_returns_input_exactly():
    g = generate(
        "bowen_york",
        {"punctures": [{"m": 0.5, "pos": [0.2, 0, 0], "P": [0.2, 0, 0]}]},
        (16, 16, 16),
        0.3,
        np.full(3, -2.25),
    )
    x = torch.from_numpy(g.vars)[None]
    net = NRFixNet(ModelConfig(channels=4, blocks=1, output_operator="poisson"))
    with torch.no_grad():
        assert torch.equal(net(x), x)


def test_pointwise_bowen_york_source_cuts_median_ham():
    """s = -(1/8) chi^(-5/4) A_ij A_ij dx^2 is the local source a trained net must learn."""
    g = generate(
        "bowen_york",
        {
            "punctures": [
                {"m": 0.5, "pos": [0.3, -0.2, 0.1], "P": [0.25, 0.1, 0.0], "S": [0.0, 0.0, 0.15]}
            ]
        },
        (28, 28, 28),
        0.25,
        np.full(3, -3.375),
    )
    x = torch.from_numpy(g.vars)[None]
    a = sym_to_full(x[:, C_A])
    src = -0.125 * x[:, :1].clamp(min=1e-6) ** -1.25 * (a * a).sum(dim=(1, 2))[:, None]
    delta = torch.zeros_like(x)
    delta[:, :1] = src * g.dx**2
    y = project(rescale_a(x, poisson_chi(x, delta), 1e-4), 1e-4, 1e-4)
    before, after = summarize(g.vars, g.dx), summarize(y[0].numpy(), g.dx)
    assert before["ham_median"] / after["ham_median"] > 10.0
    assert after["mom_rms"] <= 1.05 * before["mom_rms"]


def _by_grid():
    return generate(
        "bowen_york",
        {
            "punctures": [
                {"m": 0.5, "pos": [0.3, -0.2, 0.1], "P": [0.25, 0.1, 0.0], "S": [0.0, 0.0, 0.15]}
            ]
        },
        (24, 24, 24),
        0.3,
        np.full(3, -3.6),
    )


def test_source_prior_untrained_is_exact_and_unit_gain_is_the_linearised_step():
    g = _by_grid()
    x = torch.from_numpy(g.vars)[None]
    net = NRFixNet(ModelConfig(channels=4, blocks=1, output_operator="poisson", source_prior=True))
    with torch.no_grad():
        assert torch.equal(net(x, g.dx), x)  # gain 0, tail 0
        net.prior_gain.fill_(1.0)
        y = net(x, g.dx)
    a = sym_to_full(x[:, C_A])
    delta = torch.zeros_like(x)
    delta[:, :1] = -0.125 * x[:, :1].clamp(min=1e-4) ** -1.25 * (a * a).sum(dim=(1, 2))[:, None]
    delta[:, :1] *= g.dx**2
    ref = project(rescale_a(x, poisson_chi(x, delta), 1e-4), 1e-4, 1e-4)
    assert torch.allclose(y, ref, rtol=1e-12, atol=1e-14)
    before, after = summarize(g.vars, g.dx), summarize(y[0].numpy(), g.dx)
    assert before["ham_median"] / after["ham_median"] > 10.0


def test_source_prior_refuses_additive_output_and_missing_dx():
    import pytest

    with pytest.raises(ValueError, match="poisson"):
        NRFixNet(ModelConfig(channels=4, blocks=1, source_prior=True))
    net = NRFixNet(ModelConfig(channels=4, blocks=1, output_operator="poisson", source_prior=True))
    with pytest.raises(ValueError, match="dx"):
        net(torch.from_numpy(_by_grid().vars)[None])


def test_linearised_source_raises_indices_with_the_conformal_metric():
    from nrfix.constraints import C_H, inverse_sym
    from nrfix.model import linearised_source

    torch.manual_seed(1)
    x = torch.zeros(1, 25, 3, 3, 3, dtype=torch.float64)
    x[:, 0] = 0.5
    x[:, C_H] = 0.1 * torch.randn(1, 6, 3, 3, 3, dtype=torch.float64)
    x[:, C_H.start + 0] += 1.0
    x[:, C_H.start + 3] += 1.0
    x[:, C_H.start + 5] += 1.0
    x[:, C_A] = torch.randn(1, 6, 3, 3, 3, dtype=torch.float64)
    hu, a = inverse_sym(sym_to_full(x[:, C_H])), sym_to_full(x[:, C_A])
    aa = torch.einsum("bik...,bjl...,bij...,bkl...->b...", hu, hu, a, a)
    ref = -0.125 * 0.5**-1.25 * aa[:, None]
    assert torch.allclose(linearised_source(x, 1e-4), ref, rtol=1e-12, atol=0)
