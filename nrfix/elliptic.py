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

from nrfix.constraints import C_A, C_H, IDX


@dataclass
class SolveReport:
    """Outcome of :func:`solve_conformal_factor`.

    ``residual_max`` / ``residual_rms``: the achieved max / RMS of -psi^5 Ham / 8 over the
    unknowns, with Ham from the constraint core; ``converged``: residual_max < tol;
    ``stopped``: why the solve ended (tolerance reached, Newton steps exhausted, time budget,
    or the defect correction no longer lowering the residual, i.e. the discretisation floor).
    """

    newton_steps: int
    residual_max: float
    cg_iterations: int
    wall_s: float
    unknowns: int
    residual_rms: float = 0.0
    tol: float = 0.0
    converged: bool = False
    stopped: str = ""


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


def _cg(
    neg_j: sp.csr_matrix,
    rhs: np.ndarray,
    atol: float,
    deadline: float = np.inf,
    maxiter: int = 5000,
) -> tuple[np.ndarray, int]:
    """Jacobi-preconditioned CG for the SPD system -J du = F; returns (du, iterations).

    Stops at ||r|| <= atol, after ``maxiter`` iterations or at the wall-clock ``deadline``.
    """
    diag = neg_j.diagonal()
    x, r = np.zeros_like(rhs), rhs.copy()
    z = r / diag
    p, rz = z.copy(), float(r @ z)
    for it in range(1, maxiter + 1):
        q = neg_j @ p
        alpha = rz / float(p @ q)
        x += alpha * p
        r -= alpha * q
        if np.linalg.norm(r) <= atol or time.perf_counter() > deadline:
            return x, it
        z = r / diag
        rz_new = float(r @ z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x, maxiter


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
    time_budget_s: float | None = None,
) -> tuple[np.ndarray, SolveReport]:
    """Solve F(psi) = 0 (module docstring); returns corrected (25, X, Y, Z) data and a report.

    After Newton on the psi-Laplacian form, up to ``defect_steps`` defect-correction steps
    solve J du = -F_d with F_d = -psi^5 Ham / 8 and Ham from the constraint core itself (it
    differences chi = psi^-4, not psi), so the result reaches the discrete Ham = 0 of the
    measuring operator; a step is kept only while it lowers the residual. With
    ``time_budget_s`` the solve stops (truncated Newton/PCG) when the wall time is used up.
    The report says which residual was reached and why the solve stopped.
    """
    t0 = time.perf_counter()
    deadline = t0 + (time_budget_s if time_budget_s is not None else np.inf)
    chi0 = vars25[IDX["chi"]]
    psi0 = chi0**-0.25
    abar = vars25[C_A] * chi0**-1.5
    abar2 = (abar[[0, 3, 5]] ** 2).sum(0) + 2 * (abar[[1, 2, 4]] ** 2).sum(0)
    inner = np.zeros(chi0.shape, dtype=bool)
    inner[2:-2, 2:-2, 2:-2] = True
    free = (inner & (chi0 >= chi_excision)).ravel()
    full_lap = laplacian(chi0.shape, dx)
    prob = {
        "lap": full_lap[free][:, free].tocsr(),
        "lap_psi0": (full_lap @ psi0.ravel())[free],
        "src": abar2.ravel()[free] / 8.0,
        "p0": psi0.ravel()[free],
        "tol": tol,
        "deadline": deadline,
    }
    u, step, cg_total, stopped = _newton_phase(prob, max_newton)

    def full_psi(uu: np.ndarray) -> np.ndarray:
        out = psi0.ravel().copy()
        out[free] += uu
        return out.reshape(chi0.shape)

    def residual(uu: np.ndarray) -> np.ndarray:
        psi = full_psi(uu)
        return _discrete_residual(_assemble(vars25, psi, abar), dx, psi).ravel()[free]

    best = residual(u)
    if stopped == "tolerance reached":  # of the psi-Laplacian form; the defect loop goes on
        stopped = f"{defect_steps} defect-correction steps done"
    for _ in range(defect_steps):
        if np.abs(best).max() < tol:
            stopped = "tolerance reached"
            break
        if time.perf_counter() > deadline:
            stopped = "time budget used up"
            break
        du, n_cg = _cg(_neg_jacobian(prob, u), best, tol * 1e-2, deadline)
        cg_total += n_cg
        trial = residual(u + du)
        if np.sqrt(np.mean(trial**2)) >= 0.9 * np.sqrt(np.mean(best**2)):
            stopped = (
                "stalled: defect correction no longer lowers the residual (discretisation floor)"
            )
            break
        u, best, step = u + du, trial, step + 1
    res = float(np.abs(best).max())
    report = SolveReport(
        step, res, cg_total, time.perf_counter() - t0, int(free.sum()),
        residual_rms=float(np.sqrt(np.mean(best**2))), tol=tol, converged=res < tol,
        stopped="tolerance reached" if res < tol else stopped,
    )  # fmt: skip
    return _assemble(vars25, full_psi(u), abar), report


def _neg_jacobian(prob: dict, u: np.ndarray) -> sp.csr_matrix:
    """-J = -lap + 7 src psi^-8 at psi = p0 + u (symmetric positive definite)."""
    return (-prob["lap"] + sp.diags(7.0 * prob["src"] * (prob["p0"] + u) ** -8)).tocsr()


def _newton_phase(prob: dict, max_newton: int) -> tuple[np.ndarray, int, int, str]:
    """Newton on the psi-Laplacian form; returns (u, steps, CG iterations, why it stopped)."""
    u = np.zeros(prob["p0"].size)
    cg_total, stopped = 0, f"{max_newton} Newton steps done"
    for step in range(max_newton):
        psi = prob["p0"] + u
        f = prob["lap_psi0"] + prob["lap"] @ u + prob["src"] * psi**-7
        if float(np.abs(f).max()) < prob["tol"]:
            return u, step, cg_total, "tolerance reached"
        if time.perf_counter() > prob["deadline"]:
            return u, step, cg_total, "time budget used up"
        du, n_cg = _cg(_neg_jacobian(prob, u), f, prob["tol"] * 1e-2, prob["deadline"])
        cg_total += n_cg
        u += du
    return u, max_newton, cg_total, stopped
