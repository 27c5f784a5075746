"""Classical baseline: Newton solve of the Hamiltonian constraint for the conformal factor.

For conformally flat (h_ij = delta_ij), maximally sliced (K = 0) data, psi = chi^(-1/4) and the
conformal-transverse-traceless Abar_ij = chi^(-3/2) A_ij. The Hamiltonian constraint is the
Lichnerowicz equation (gr-qc/0404056)

    F(psi) = lap(psi) + (1/8) Abar_ij Abar_ij psi^-7 = 0,

solved for psi = psi_0 + u on the same grid with the same 4th-order Laplacian the constraint
check uses. Unknowns are the interior cells outside the excised punctures (chi_0 >= the
excision threshold); u = 0 on the 2 ghost layers and inside the excision. Newton steps solve
J du = -F with J = lap - (7/8) Abar^2 psi^-8 (symmetric negative definite) by conjugate
gradients. The result keeps Abar fixed: chi = psi^-4, A_ij = chi^(3/2) Abar_ij, so Mom is
unchanged (conformal covariance).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from nrfix.constraints import C_A, C_H, IDX


@dataclass
class SolveReport:
    """Outcome of :func:`solve_conformal_factor`."""

    newton_steps: int
    residual_max: float
    cg_iterations: int
    wall_s: float
    unknowns: int


def _lap_1d(n: int, dx: float) -> sp.csr_matrix:
    coef = np.array([-1.0, 16.0, -30.0, 16.0, -1.0]) / (12.0 * dx * dx)
    return sp.diags(
        [np.full(n - abs(o), c) for o, c in zip(range(-2, 3), coef)], list(range(-2, 3))
    )


def laplacian(shape: tuple[int, int, int], dx: float) -> sp.csr_matrix:
    """4th-order 3D Laplacian on a C-ordered (x, y, z) grid (rows valid 2 cells in)."""
    nx, ny, nz = shape
    ix, iy, iz = (sp.identity(n, format="csr") for n in shape)
    return (
        sp.kron(sp.kron(_lap_1d(nx, dx), iy), iz)
        + sp.kron(sp.kron(ix, _lap_1d(ny, dx)), iz)
        + sp.kron(sp.kron(ix, iy), _lap_1d(nz, dx))
    ).tocsr()


def check_conformally_flat(vars25: np.ndarray, tol: float = 1e-8) -> str | None:
    """None if the data suit the solve (h = delta, K = 0), else the reason."""
    flat = np.array([1, 0, 0, 1, 0, 1], dtype=float)[:, None, None, None]
    if np.abs(vars25[C_H] - flat).max() > tol:
        return "the conformal metric h_ij is not flat (the solve needs conformally flat data)"
    if np.abs(vars25[IDX["K"]]).max() > tol:
        return "K != 0 (the solve needs maximally sliced data, K = 0)"
    return None


def _cg(neg_j: sp.csr_matrix, rhs: np.ndarray, atol: float) -> tuple[np.ndarray, int]:
    """Jacobi-preconditioned CG for the SPD system -J du = F; returns (du, iterations)."""
    diag = neg_j.diagonal()
    pre = spla.LinearOperator(neg_j.shape, matvec=lambda v: v / diag)
    counter = {"n": 0}
    du, _ = spla.cg(neg_j, rhs, rtol=1e-12, atol=atol, maxiter=5000, M=pre,
                    callback=lambda _x: counter.__setitem__("n", counter["n"] + 1))  # fmt: skip
    return du, counter["n"]


def _assemble(vars25: np.ndarray, psi: np.ndarray, abar: np.ndarray) -> np.ndarray:
    """Chi = psi^-4 and A_ij = chi^(3/2) Abar_ij in a copy of ``vars25``."""
    out = vars25.copy()
    chi = psi**-4
    out[IDX["chi"]] = chi
    out[C_A] = abar * chi**1.5
    return out


def _discrete_residual(vars25: np.ndarray, dx: float, psi: np.ndarray) -> np.ndarray:
    """-psi^5 Ham / 8 of the assembled data, with Ham from the constraint core (interior)."""
    import torch

    from nrfix.constraints import constraints

    with torch.no_grad():
        ham = constraints(torch.from_numpy(vars25)[None], dx)["Ham"][0].numpy()
    full = np.zeros_like(psi)
    full[2:-2, 2:-2, 2:-2] = -(psi[2:-2, 2:-2, 2:-2] ** 5) * ham / 8.0
    return full


def solve_conformal_factor(
    vars25: np.ndarray,
    dx: float,
    chi_excision: float = 0.05,
    tol: float = 1e-10,
    max_newton: int = 20,
    defect_steps: int = 6,
) -> tuple[np.ndarray, SolveReport]:
    """Solve F(psi) = 0 (module docstring); returns corrected (25, X, Y, Z) data and a report.

    After Newton on the psi-Laplacian form, up to ``defect_steps`` defect-correction steps
    solve J du = -F_d with F_d = -psi^5 Ham / 8 and Ham from the constraint core itself (it
    differences chi = psi^-4, not psi), so the result reaches the discrete Ham = 0 of the
    measuring operator; a step is kept only while it lowers the residual.
    """
    t0 = time.perf_counter()
    chi0 = vars25[IDX["chi"]]
    psi0 = chi0**-0.25
    abar = vars25[C_A] * chi0**-1.5
    abar2 = (abar[[0, 3, 5]] ** 2).sum(0) + 2 * (abar[[1, 2, 4]] ** 2).sum(0)
    shape = chi0.shape
    inner = np.zeros(shape, dtype=bool)
    inner[2:-2, 2:-2, 2:-2] = True
    free = (inner & (chi0 >= chi_excision)).ravel()
    lap = laplacian(shape, dx)[free][:, free].tocsr()
    lap_psi0 = (laplacian(shape, dx) @ psi0.ravel())[free]
    src, p0 = abar2.ravel()[free] / 8.0, psi0.ravel()[free]
    u = np.zeros(free.sum())
    cg_total, res, step = 0, np.inf, 0
    for step in range(1, max_newton + 1):
        psi = p0 + u
        f = lap_psi0 + lap @ u + src * psi**-7
        res = float(np.abs(f).max())
        if res < tol:
            step -= 1
            break
        du, n_cg = _cg((-lap + sp.diags(7.0 * src * psi**-8)).tocsr(), f, tol * 1e-2)
        cg_total += n_cg
        u += du

    def full_psi(uu: np.ndarray) -> np.ndarray:
        out = psi0.ravel().copy()
        out[free] += uu
        return out.reshape(shape)

    best = _discrete_residual(_assemble(vars25, full_psi(u), abar), dx, full_psi(u)).ravel()[free]
    for _ in range(defect_steps):
        psi = p0 + u
        du, n_cg = _cg((-lap + sp.diags(7.0 * src * psi**-8)).tocsr(), best, tol * 1e-2)
        cg_total += n_cg
        trial = _discrete_residual(_assemble(vars25, full_psi(u + du), abar), dx, full_psi(u + du))
        trial = trial.ravel()[free]
        if np.sqrt(np.mean(trial**2)) >= 0.9 * np.sqrt(np.mean(best**2)):
            break
        u, best, step = u + du, trial, step + 1
    res = float(np.abs(best).max())
    out = _assemble(vars25, full_psi(u), abar)
    report = SolveReport(step, res, cg_total, time.perf_counter() - t0, int(free.sum()))
    return out, report
