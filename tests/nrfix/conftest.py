"""Fixtures of the nrfix tests: GRTeclyn/GRChombo's polynomial CCZ4 test data, and one tiny
trained run (data + checkpoints) shared by the CLI tests."""

from __future__ import annotations

import numpy as np
import pytest

_P = {  # coefficients of 1, x, x^2, x y^3, y z, z^2, z^4 (GRTeclyn Tests/Common/InitialData.hpp)
    "g00": [1.36778, 2.39731, 4.53541, 19.9771, 6.13801, 5.65185, 9.35842],
    "g01": [-0.07646, -0.48786, -0.75098, -1.73683, 1.71676, 1.03662, 0.35630],
    "g02": [-0.10083, 0.12445, -1.26649, -1.95052, 0.73091, -1.49835, -2.39024],
    "g11": [0.84072, 2.31163, 3.32275, 15.1662, 8.48730, 3.05098, 17.8448],
    "g12": [-0.42495, -0.33464, -0.47012, -7.38477, 0.41896, -1.36394, 5.25894],
    "g22": [0.60995, 1.30428, 3.86237, 22.7614, 6.93818, 4.39250, 19.0244],
    "k00": [-0.16238, -0.74295, 0.51595, -6.60239, -0.76401, -1.81131, -3.88228],
    "k01": [0.15054, -0.60088, -0.15428, 3.16779, -2.00687, -1.35442, -0.67601],
    "k02": [-0.02174, -0.36243, 0.81531, 4.34918, 0.90419, -0.85088, -6.45097],
    "k11": [-0.47653, -0.43889, 0.87342, 4.24684, 0.26290, 1.90095, 3.69515],
    "k12": [0.37472, 0.03657, -0.10327, -0.95744, -1.20800, -0.43064, -0.25419],
    "k22": [0.34184, 0.21495, -0.73195, 7.81626, 2.48359, 1.89657, -4.10980],
}
_SYM = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]


def polynomial_ccz4(n: int = 16, ghosts: int = 2) -> tuple[np.ndarray, float]:
    """The 16^3 test grid of GRChombo's ConstraintsTest (coords = index * dx, dx = 1/15), with
    ``ghosts`` extra cells each side: returns (25, n+2g, n+2g, n+2g) and dx."""
    dx = 1.0 / (n - 1)
    iv = np.arange(-ghosts, n + ghosts) * dx
    x, y, z = np.meshgrid(iv, iv, iv, indexing="ij")

    def poly(c: list[float]) -> np.ndarray:
        return (
            c[0]
            + c[1] * x
            + c[2] * x * x
            + c[3] * x * y**3
            + c[4] * y * z
            + c[5] * z * z
            + c[6] * z**4
        )

    g, k = np.zeros((3, 3) + x.shape), np.zeros((3, 3) + x.shape)
    for i, j in _SYM:
        g[i, j] = g[j, i] = poly(_P[f"g{i}{j}"])
        k[i, j] = k[j, i] = poly(_P[f"k{i}{j}"])
    gm = np.moveaxis(g, (0, 1), (-2, -1))
    chi = np.abs(np.linalg.det(gm)) ** (-1 / 3)
    g_uu = np.moveaxis(np.linalg.inv(gm), (-2, -1), (0, 1))
    tr_k = np.einsum("ij...,ij...->...", g_uu, k)
    out = np.zeros((25,) + x.shape)
    out[0], out[7] = chi, tr_k
    for c, (i, j) in enumerate(_SYM):
        out[1 + c] = chi * g[i, j]
        out[8 + c] = chi * (k[i, j] - tr_k * g[i, j] / 3)
    out[18] = 1.0
    return out, dx


@pytest.fixture(scope="session")
def poly_data() -> tuple[np.ndarray, float]:
    """GRChombo's polynomial test data with 2 ghost cells."""
    return polynomial_ccz4()


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """``make-data`` + ``train`` with the tiny preset: root/data/*.h5, root/run/checkpoints."""
    from click.testing import CliRunner

    from nrfix.cli import cli

    root = tmp_path_factory.mktemp("nrfix")
    for args in (
        ["make-data", "--out", str(root / "data"), "--preset", "tiny"],
        ["train", "--preset", "tiny", "--run-dir", str(root / "run"), "--data", str(root / "data")],
    ):
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return root
