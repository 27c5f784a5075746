"""The residual-driven prior: zero on exact data, large Ham cuts on Bowen-York and warped data."""

from __future__ import annotations

import numpy as np
import pytest

from nrfix.constraints import IDX
from nrfix.data import generate
from nrfix.measure import compare, gains, worse
from nrfix.newton import excision_mask, newton_correct, newton_direction
from nrfix.poisson import dst_laplacian_inverse

N, BOX = 16, 6.0
DX = BOX / N
ORIGIN = np.full(3, -BOX / 2 + DX / 2)
BY = {
    "punctures": [
        {"m": 0.5, "pos": [0.7, 0.1, 0.05], "P": [0, 0.3, 0], "S": [0, 0, 0.3]},
        {"m": 0.1, "pos": [-1.0, 0.1, 0.05], "P": [0, -0.3, 0]},
    ]
}


def _grid(family: str, params: dict) -> np.ndarray:
    return generate(family, params, (N, N, N), DX, ORIGIN).vars


def _free(x: np.ndarray) -> np.ndarray:
    free = np.zeros(x.shape[1:], bool)
    free[2:-2, 2:-2, 2:-2] = True
    return free & ~excision_mask(x[0], 0.05, 2)


def test_flat_space_is_a_fixed_point():
    x = _grid("brill_lindquist", {"punctures": [{"m": 0.0, "pos": [0, 0, 0]}]})
    y, rep = newton_correct(x, DX)
    assert np.array_equal(y, x) and rep.steps


def test_step_is_truncation_sized_on_exact_data():
    """The direction is driven by the measured residual: on exact Brill-Lindquist data it is
    the truncation error's correction, orders below the Bowen-York one."""
    bl = _grid("brill_lindquist", BY)
    by = _grid("bowen_york", BY)
    u_bl, info = newton_direction(bl, DX, _free(bl))
    u_by, _ = newton_direction(by, DX, _free(by))
    assert info["linear_rel_residual"] < 1e-6
    free = _free(by)
    assert np.median(np.abs(u_bl[free])) < 0.1 * np.median(np.abs(u_by[free]))


@pytest.mark.parametrize(
    "family, params",
    [
        ("schwarzschild", {"punctures": [{"m": 0.8, "pos": [0.05, 0.02, 0.01]}]}),
        ("kerr_schild", {"punctures": [{"m": 0.8, "pos": [0.05, 0.02, 0.01]}]}),
    ],
)
def test_exact_data_no_worse(family, params):
    x = _grid(family, params)
    y, _ = newton_correct(x, DX, momentum=False)
    cmp = compare(x, y, DX)
    assert worse(cmp) == []


@pytest.mark.parametrize("warp", [None, {"eps": [0.1, -0.08, 0.05], "omega": 2 * np.pi / BOX}])
def test_reduces_ham_on_bowen_york(warp):
    params = {**BY, "transform": warp} if warp else BY
    x = _grid("bowen_york", params)
    y, rep = newton_correct(x, DX)
    cmp = compare(x, y, DX)
    assert worse(cmp) == [], rep
    assert gains(cmp)["ham_median"] > 10.0, rep
    # Abar = chi^(-3/2) A_ij is kept by the conformal-factor step
    assert np.isfinite(y).all() and (y[IDX["chi"]] > 0).all()


def test_dst_inverts_the_stencil():
    rng = np.random.default_rng(0)
    shape, dx = (9, 7, 8), 0.3
    r = rng.normal(size=shape)
    u = dst_laplacian_inverse(shape, dx)(r)
    pad = np.pad(u, 2)
    for ax in range(3):  # odd reflection: u(-1) = 0, u(-2) = -u(0)
        pad = np.moveaxis(pad, ax, 0)
        pad[0], pad[-1] = -pad[2], -pad[-3]
        pad = np.moveaxis(pad, 0, ax)
    lap = 0.0
    for ax in range(3):
        s = lambda o, a=ax: np.roll(pad, -o, axis=a)[2:-2, 2:-2, 2:-2]  # noqa: E731
        lap = lap + (-s(-2) + 16 * s(-1) - 30 * s(0) + 16 * s(1) - s(2)) / (12 * dx * dx)
    assert np.allclose(lap, r, atol=1e-10)


def test_elliptic_reports_residual_and_reason():
    from nrfix.elliptic import solve_conformal_factor

    x = _grid("bowen_york", BY)
    _, rep = solve_conformal_factor(x, DX, tol=1e-10)
    assert not rep.converged and rep.residual_max >= 1e-10 and rep.stopped
    assert rep.stopped != "tolerance reached"
    _, rep = solve_conformal_factor(x, DX, time_budget_s=0.0)
    assert rep.stopped == "time budget used up" and rep.newton_steps == 0
