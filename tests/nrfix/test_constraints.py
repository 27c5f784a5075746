"""The GR core against GRChombo/GRTeclyn references and exact solutions."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from nrfix.constraints import constraints, diff1, diff2
from nrfix.data import bowen_york_abar, generate, grid_coords
from nrfix.formats import read_plotfile


def test_matches_grchombo_reference(shared_dir, poly_data):
    vars25, dx = poly_data
    r = constraints(torch.from_numpy(vars25)[None], dx)
    with h5py.File(shared_dir / "data/nrfix/ConstraintsGRChombo.hdf5") as f:
        ref = f["level_0/data:datatype=0"][()].reshape(4, 16, 16, 16).transpose(0, 3, 2, 1)
    assert np.abs(r["Ham"][0].numpy() - ref[0]).max() < 1e-10
    for i in range(3):
        assert np.abs(r["Mom"][0, i].numpy() - ref[1 + i]).max() < 1e-10
    assert np.abs(ref[0]).max() > 1.0  # the comparison is not trivially between zeros


def test_reproduces_plotfile_constraints(shared_dir):
    g = read_plotfile(shared_dir / "data/nrfix/plt00008_compare")
    r = constraints(torch.from_numpy(g.vars)[None], g.dx)
    inner = (slice(2, -2),) * 3
    assert np.abs(r["Ham"][0].numpy() - g.extra["Ham"][inner]).max() < 1e-12
    for i in range(3):
        assert np.abs(r["Mom"][0, i].numpy() - g.extra[f"Mom{i + 1}"][inner]).max() < 1e-12


def test_stencils_exact_on_quartics():
    x = torch.linspace(0, 1, 11, dtype=torch.float64)
    dx = float(x[1] - x[0])
    xx, yy, zz = torch.meshgrid(x, x, x, indexing="ij")
    f = (xx**4 + xx * yy**3 + yy * zz)[None]
    d1, d2 = diff1(f, dx)[0], diff2(f, dx)[0]
    inner = (slice(2, -2),) * 3
    assert torch.allclose(d1[0], (4 * xx**3 + yy**3)[inner], atol=1e-11)
    assert torch.allclose(d2[0, 1], (3 * yy**2)[inner], atol=1e-11)
    assert torch.allclose(d2[1, 2], torch.ones_like(d2[1, 2]), atol=1e-11)


def _errors(family: str, params: dict, n: int) -> tuple[float, float]:
    side = 1.0  # a box [0.7, 1.7] x [0.6, 1.6] x [0.8, 1.8] away from the puncture
    dx = side / n
    origin = np.array([0.7, 0.6, 0.8]) + dx / 2 - 2 * dx
    g = generate(family, params, (n + 4,) * 3, dx, origin)
    r = constraints(torch.from_numpy(g.vars)[None], dx)
    return float(r["Ham"].pow(2).mean().sqrt()), float(r["Mom"].pow(2).mean().sqrt())


TRANSFORM = {"eps": [0.05, 0.04, 0.03], "omega": 1.3}
CASES = {
    "schwarzschild": ("schwarzschild", {"punctures": [{"m": 1.0, "pos": [0, 0, 0]}]}),
    "kerr_schild": ("kerr_schild", {"punctures": [{"m": 1.0, "pos": [0, 0, 0]}]}),
    "kerr_schild_warped": (
        "kerr_schild",
        {"punctures": [{"m": 1.0, "pos": [0, 0, 0]}], "transform": TRANSFORM},
    ),
    "brill_lindquist_warped": (
        "brill_lindquist",
        {
            "punctures": [{"m": 0.5, "pos": [0, 0, 0.3]}, {"m": 0.6, "pos": [0.2, 0, -0.4]}],
            "transform": TRANSFORM,
        },
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_exact_solutions_converge_at_fourth_order(case):
    family, params = CASES[case]
    (h1, m1), (h2, m2) = _errors(family, params, 12), _errors(family, params, 24)
    assert 14 < h1 / h2 < 18
    if family == "kerr_schild":  # K != 0 and non-conformally-flat: the Mom sign trap
        assert 14 < m1 / m2 < 18
    else:
        assert m1 < 1e-12


def test_bowen_york_violation_is_minus_psi12_abar2():
    punct = [
        {"m": 0.5, "pos": [0.1, 0, 0.3], "P": [0.2, 0.1, 0], "S": [0, 0, 0.2]},
        {"m": 0.6, "pos": [0.2, 0.05, -0.4], "P": [-0.2, -0.1, 0.05], "S": [0.1, 0, 0]},
    ]
    errs = []
    for n in (12, 24):
        dx = 1.0 / n
        origin = np.array([0.7, 0.6, 0.8]) + dx / 2 - 2 * dx
        g = generate("bowen_york", {"punctures": punct}, (n + 4,) * 3, dx, origin)
        r = constraints(torch.from_numpy(g.vars)[None], dx)
        xyz = grid_coords((n + 4,) * 3, dx, origin)[:, 2:-2, 2:-2, 2:-2]
        psi = 1 + sum(
            p["m"] / (2 * np.linalg.norm(xyz - np.array(p["pos"])[:, None, None, None], axis=0))
            for p in punct
        )
        abar = bowen_york_abar(xyz, punct)
        expected = -(psi**-12) * (abar**2).sum((0, 1))
        errs.append((np.abs(r["Ham"][0].numpy() - expected).max(), float(r["Mom"].abs().max())))
        assert np.abs(expected).max() > 1e-3
    assert 12 < errs[0][0] / errs[1][0] < 20  # Ham - (-psi^-12 Abar^2) is truncation error
    assert 12 < errs[0][1] / errs[1][1] < 20  # Mom is truncation error
    assert errs[1][1] < 1e-5
