"""Conformal-transverse-traceless momentum step: A_ij += chi^(3/2) (L W)_ij.

York's CTT decomposition corrects the traceless extrinsic curvature by the conformal Killing
operator of a vector W_i,

    (L W)_ij = d_i W_j + d_j W_i - (2/3) h_ij h^kl d_k W_l,

so that Mom_i(A + chi^(3/2) L W) = 0. Mom is affine in A_ij (:func:`nrfix.constraints.mom_of_a`),
so the step solves the linear system  M_lin(chi^(3/2) L W) = -Mom(A)  exactly as the measuring
operator sees it (no linearisation error): restarted GMRES preconditioned with the flat vector
Laplacian (for conformally flat data M_lin ~ chi^(3/2) (lap W + (1/3) grad div W)), inverted
per component by the Dirichlet DST of :mod:`nrfix.newton`. W = 0 is held on the 2 ghost layers
and in the excision; A_ij on the ghost layers is not changed.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as spla
import torch
import torch.nn.functional as F  # noqa: N812

from nrfix.constraints import (
    C_A,
    C_H,
    IDX,
    constraints,
    diff1,
    full_to_sym,
    inverse_sym,
    mom_of_a,
    mom_parts,
    sym_to_full,
)


def delta_a(w: torch.Tensor, vars25: torch.Tensor, dx: float) -> torch.Tensor:
    """(1, 6, X, Y, Z) chi^(3/2) (L W)_ij for W (1, 3, X, Y, Z), zero on the 2 ghost layers."""
    dw = diff1(F.pad(w, (2, 2, 2, 2, 2, 2)), dx)  # [b, i, k] = d_k W_i on the full grid
    sym = dw + dw.transpose(1, 2)
    h = sym_to_full(vars25[:, C_H])
    tr = torch.einsum("bij...,bij...->b...", inverse_sym(h), sym)
    lw = full_to_sym(sym - h * tr[:, None, None] / 3.0)
    lw = lw * vars25[:, IDX["chi"]][:, None] ** 1.5
    inner = torch.zeros_like(lw[:, :1])
    inner[..., 2:-2, 2:-2, 2:-2] = 1.0
    return lw * inner


def momentum_direction(
    vars25: np.ndarray, dx: float, free: np.ndarray, restart: int = 40, restarts: int = 3
) -> tuple[np.ndarray, dict]:
    """Solve M_lin(delta_a(W)) = -Mom on the ``free`` cells; returns delta A (6, X, Y, Z), info."""
    from nrfix.newton import dst_laplacian_inverse

    x = torch.from_numpy(np.ascontiguousarray(vars25))[None]
    with torch.no_grad():
        parts = mom_parts(x, dx)
        mom = mom_of_a(x[:, C_A], parts, dx)[0].numpy()
        scale = constraints(x, dx)["Mom_abs"][0].norm(dim=0).numpy()
    lin_parts = {**parts, "k_term": torch.zeros_like(parts["k_term"])}
    fi = free[2:-2, 2:-2, 2:-2]
    n = int(fi.sum())
    # rows weighted by 1 / ||Mom_abs||: the bulk (Mom ~ truncation error) counts as much as the
    # cells beside the punctures, where Mom is 1e5 times larger
    weight = 1.0 / np.maximum(scale[fi], max(1e-12 * scale[fi].max(), 1e-300))
    if not np.any(mom[:, fi]):
        return np.zeros((6, *free.shape)), {"gmres_iterations": 0, "linear_rel_residual": 0.0}

    def embed(v: np.ndarray) -> torch.Tensor:
        w = np.zeros((3, *free.shape))
        w[:, free] = v.reshape(3, n)
        return torch.from_numpy(w)[None]

    def matvec(v: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = mom_of_a(delta_a(embed(v), x, dx), lin_parts, dx)[0].numpy()
        return (out[:, fi] * weight).ravel()

    lap_inv = dst_laplacian_inverse(fi.shape, dx)
    chi_in = vars25[IDX["chi"], 2:-2, 2:-2, 2:-2][fi]

    def precond(r: np.ndarray) -> np.ndarray:
        out = np.empty((3, n))
        for i, ri in enumerate(r.reshape(3, n)):
            box = np.zeros(fi.shape)
            box[fi] = ri / weight * chi_in**-1.5
            out[i] = lap_inv(box)[fi]
        return out.ravel()

    a_op = spla.LinearOperator((3 * n, 3 * n), matvec=matvec, dtype=np.float64)
    m_op = spla.LinearOperator((3 * n, 3 * n), matvec=precond, dtype=np.float64)
    rhs = -(mom[:, fi] * weight).ravel()
    counter = {"n": 0}
    sol, _ = spla.gmres(
        a_op, rhs, M=m_op, rtol=1e-8, restart=restart, maxiter=restarts,
        callback=lambda _r: counter.__setitem__("n", counter["n"] + 1),
        callback_type="pr_norm",
    )  # fmt: skip
    lin_res = float(np.linalg.norm(matvec(sol) - rhs) / max(np.linalg.norm(rhs), 1e-300))
    with torch.no_grad():
        da = delta_a(embed(sol), x, dx)[0].numpy()
    return da, {"gmres_iterations": counter["n"], "linear_rel_residual": lin_res}
