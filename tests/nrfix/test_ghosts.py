"""Corrections continue smoothly through the boundary (nrfix.ghosts), so the prior's steps keep
the input's truncation-level ||Mom|| at the faces and the coupled GMRES converges at fine dx."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nrfix.convergence import aligned_grids
from nrfix.ghosts import extrapolate_ghosts, fill_ghosts
from nrfix.measure import compare
from nrfix.momentum import coupled_direction
from nrfix.newton import _apply, newton_direction

PUNCTURES = [  # below the patch [-2, 2]^3: smooth data, nothing excised
    {"m": 0.5, "pos": [1.1, 0.0, -4.0], "P": [0.0, 0.3, 0.0], "S": [0.0, 0.0, 0.3]},
    {"m": 0.15, "pos": [-1.1, 0.2, -4.1], "P": [0.0, -0.3, 0.0], "S": [0.2, 0.0, 0.0]},
]


def _cubic(n: int, zero_at: float) -> np.ndarray:
    s = np.arange(n, dtype=np.float64) - zero_at
    return s * (0.3 + 0.2 * s - 0.01 * s**2)


def test_fill_ghosts_continues_a_cubic_through_the_boundary():
    n = 12
    lo, hi = _cubic(n, 1.0), _cubic(n, n - 2.0)  # vanish on the inner ghost layers
    for f1 in (lo, hi):
        u = np.broadcast_to(f1[:, None, None], (n, n, n)).copy()
        u[:2], u[-2:] = 0.0, 0.0  # only the interior is known
        inner = np.ones((n, n, n))  # a second, smooth factor in y and z
        inner[:, :2], inner[:, -2:] = 0.0, 0.0
        inner[:, :, :2], inner[:, :, -2:] = 0.0, 0.0
        got = fill_ghosts(u * inner)
        if f1 is lo:
            assert got[0, 5, 5] == pytest.approx(lo[0], rel=1e-12)
            assert got[1, 5, 5] == 0.0
        else:
            assert got[-1, 5, 5] == pytest.approx(hi[-1], rel=1e-12)
            assert got[-2, 5, 5] == 0.0
        assert np.all(got[:, 1] == 0.0) and np.all(got[:, :, -2] == 0.0)


def test_extrapolate_ghosts_is_exact_on_cubics():
    n = 11
    s = torch.arange(n, dtype=torch.float64)
    f = (1.0 + 0.5 * s - 0.2 * s**2 + 0.03 * s**3)[:, None, None] * (2.0 - 0.1 * s)[None, :, None]
    f = f.expand(n, n, n).clone()
    spoiled = f.clone()
    spoiled[:2], spoiled[-2:], spoiled[:, :2], spoiled[:, :, -2:] = 7.0, 7.0, 7.0, 7.0
    torch.testing.assert_close(extrapolate_ghosts(spoiled), f, rtol=1e-10, atol=1e-10)


@pytest.fixture(scope="module")
def fine_patch() -> tuple[np.ndarray, float, np.ndarray]:
    _, (x, dx, _) = aligned_grids("bowen_york", {"punctures": PUNCTURES}, 16, 4.0)
    free = np.zeros(x.shape[1:], bool)
    free[2:-2, 2:-2, 2:-2] = True
    return x, dx, free


def test_conformal_step_keeps_the_inputs_mom_at_the_faces(fine_patch):
    """u held at 0 on both ghost layers raised RMS ||Mom|| 1.22x here (1.39x in the first
    interior layer), so the 5% guard refused the step."""
    x, dx, free = fine_patch
    u, info = newton_direction(x, dx, free)
    assert info["linear_rel_residual"] < 1e-6
    cmp = compare(x, _apply(x, x[0] ** -0.25, u), dx)
    assert cmp["ratio"]["ham_median"] < 1e-2, cmp["ratio"]
    assert cmp["ratio"]["mom_rms"] < 1.03 and cmp["ratio"]["mom_median"] < 1.03, cmp["ratio"]


def test_coupled_gmres_converges_on_a_fine_smooth_patch(fine_patch):
    """Held at 0 on both ghost layers, GMRES stopped at 4e-5 after 320 iterations here."""
    x, dx, free = fine_patch
    u, w, info = coupled_direction(x, dx, free)
    assert info["linear_rel_residual"] < 1e-6, info
    # W is smooth: no odd-even pattern along a line through the patch
    line = w[0, 4:-4, 15, 15]
    assert np.abs(np.diff(line, 2)).max() < 0.1 * np.abs(line).max()
