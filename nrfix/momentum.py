"""Conformal-transverse-traceless momentum step: A_ij += chi^(3/2) (L W)_ij.

York's CTT decomposition corrects the traceless extrinsic curvature by the conformal Killing
operator of a vector W_i,

    (L W)_ij = d_i W_j + d_j W_i - (2/3) h_ij h^kl d_k W_l,

so that Mom_i(A + chi^(3/2) L W) = 0. Mom is affine in A_ij (:func:`nrfix.constraints.mom_of_a`),
so the step solves the linear system  M_lin(chi^(3/2) L W) = -Mom(A)  exactly as the measuring
operator sees it (no linearisation error): restarted GMRES preconditioned with the flat vector
Laplacian (for conformally flat data M_lin ~ chi^(3/2) (lap W + (1/3) grad div W)), inverted
per component by the Dirichlet DST of :mod:`nrfix.newton`. W = 0 is held on the inner ghost layer
(the outermost one extrapolates smoothly through it) and in the excision; (L W)_ij on the
ghost layers is extrapolated from the interior.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from nrfix.constraints import (
    C_A,
    C_H,
    IDX,
    constraints,
    diff1,
    diff2,
    full_to_sym,
    interior,
    inverse_sym,
    mom_of_a,
    mom_parts,
    sym_to_full,
)
from nrfix.ghosts import extrapolate_ghosts, fill_ghosts
from nrfix.krylov import gmres_solve


def delta_a(
    w: torch.Tensor, vars25: torch.Tensor, dx: float, hold_ghosts: bool = False
) -> torch.Tensor:
    """(1, 6, X, Y, Z) chi^(3/2) (L W)_ij for W (1, 3, X, Y, Z).

    W carries its ghost layers (:func:`nrfix.ghosts.fill_ghosts`: W = 0 on the inner ghost
    layer, smooth through it); L W is evaluated on the interior and its ghost layers are the
    cubic extrapolation of the interior (:func:`extrapolate_ghosts`), so A_ij stays smooth
    across the boundary, or zero with ``hold_ghosts`` (A_ij on the ghost layers unchanged).
    """
    dw = diff1(w, dx)  # [b, i, k] = d_k W_i on the interior
    sym = dw + dw.transpose(1, 2)
    h = sym_to_full(interior(vars25[:, C_H]))
    tr = torch.einsum("bij...,bij...->b...", inverse_sym(h), sym)
    lw = full_to_sym(sym - h * tr[:, None, None] / 3.0)
    lw = F.pad(lw * interior(vars25[:, IDX["chi"]])[:, None] ** 1.5, (2, 2, 2, 2, 2, 2))
    return lw if hold_ghosts else extrapolate_ghosts(lw)


def momentum_direction(
    vars25: np.ndarray, dx: float, free: np.ndarray, restart: int = 40, restarts: int = 3
) -> tuple[np.ndarray, dict]:
    """Solve M_lin(delta_a(W)) = -Mom on the ``free`` cells; returns delta A (6, X, Y, Z), info."""
    from nrfix.poisson import dst_laplacian_inverse

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
        return torch.from_numpy(fill_ghosts(w))[None]

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

    rhs = -(mom[:, fi] * weight).ravel()
    sol, info = gmres_solve(matvec, precond, rhs, restart, restarts)
    with torch.no_grad():
        da = delta_a(embed(sol), x, dx)[0].numpy()
    return da, info


def _ham_mom(chi_g: torch.Tensor, a6_g: torch.Tensor, parts: dict, dx: float) -> torch.Tensor:
    """(1, 4, ...) Ham and Mom_i for conformal factor chi_g and A_ij (h_ij, K from ``parts``)."""
    chi = interior(chi_g)
    dchi, d2chi = diff1(chi_g, dx), diff2(chi_g, dx)
    h_uu, ull = parts["h_uu"], parts["ull"]
    box = torch.einsum(
        "bij...,bij...->b...", d2chi - torch.einsum("bmkl...,bm...->bkl...", ull, dchi), h_uu
    )
    dchi2 = torch.einsum("bi...,bj...,bij...->b...", dchi, dchi, h_uu)
    a = interior(sym_to_full(a6_g))
    a_uu = torch.einsum("bik...,bjl...,bkl...->bij...", h_uu, h_uu, a)
    ham = (
        2.0 * box
        - 2.5 * dchi2 / chi
        + chi * parts["r_hat"]
        - torch.einsum("bij...,bij...->b...", a, a_uu)
        + parts["kk"]
    )
    mom = mom_of_a(a6_g, {**parts, "dlogchi": dchi / chi[:, None]}, dx)
    return torch.cat([ham[:, None], mom], dim=1)


def coupled_direction(  # noqa: PLR0913
    vars25: np.ndarray,
    dx: float,
    free: np.ndarray,
    restart: int = 40,
    restarts: int = 8,
    hold_ghosts: bool = False,
) -> tuple[np.ndarray, np.ndarray, dict]:  # noqa: PLR0914
    """One Newton step for Ham = Mom = 0 in (u, W) together: psi -> psi + u and
    Abar_ij -> Abar_ij + (L W)_ij (A_ij = chi^(3/2) Abar_ij). Rows weighted by 1 / abs terms;
    block preconditioner: the flat Poisson (Ham) and vector Poisson (Mom) DST inverses.
    Returns u (X, Y, Z), W (3, X, Y, Z) and info.
    """
    from nrfix.constraints import ham_parts
    from nrfix.poisson import dst_laplacian_inverse

    x = torch.from_numpy(np.ascontiguousarray(vars25))[None]
    chi, a0 = x[:, IDX["chi"]], x[:, C_A]
    with torch.no_grad():
        parts = {**ham_parts(x, dx), **mom_parts(x, dx)}
        f0 = _ham_mom(chi, a0, parts, dx)[0].numpy()
        c = constraints(x, dx)
        mom_abs = c["Mom_abs"][0].norm(dim=0).numpy()[None]
    scale = np.concatenate([c["Ham_abs"].numpy(), np.repeat(mom_abs, 3, 0)])
    fi = free[2:-2, 2:-2, 2:-2]
    n = int(fi.sum())
    weight = 1.0 / np.maximum(scale[:, fi], max(1e-12 * scale[:, fi].max(), 1e-300))
    psi = chi[0].numpy() ** -0.25
    if not np.any(f0[:, fi]):
        return (
            np.zeros(free.shape),
            np.zeros((3, *free.shape)),
            {"gmres_iterations": 0, "linear_rel_residual": 0.0},
        )

    def tangents(v: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        full = np.zeros((4, *free.shape))
        full[:, free] = v.reshape(4, n)
        full = fill_ghosts(full)
        dchi = torch.from_numpy(-4.0 * psi**-5 * full[0])[None]
        w = torch.from_numpy(full[1:])[None]
        da = delta_a(w, x, dx, hold_ghosts) + 1.5 * a0 * (dchi / chi)[:, None]
        return dchi, da

    def matvec(v: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            _, jv = torch.func.jvp(
                lambda ch, aa: _ham_mom(ch, aa, parts, dx), (chi, a0), tangents(v)
            )
        return (jv[0].numpy()[:, fi] * weight).ravel()

    lap_inv = dst_laplacian_inverse(fi.shape, dx)
    psi_in = psi[2:-2, 2:-2, 2:-2][fi]

    def precond(r: np.ndarray) -> np.ndarray:
        r = r.reshape(4, n) / weight
        out = np.empty((4, n))
        for i in range(4):
            box = np.zeros(fi.shape)
            box[fi] = -(psi_in**5) * r[0] / 8.0 if i == 0 else r[i] * psi_in**6
            out[i] = lap_inv(box)[fi]
        return out.ravel()

    rhs = -(f0[:, fi] * weight).ravel()
    sol, info = gmres_solve(matvec, precond, rhs, restart, restarts)
    full = np.zeros((4, *free.shape))
    full[:, free] = sol.reshape(4, n)
    full = fill_ghosts(full)
    return full[0], full[1:], {**info, "hold_ghosts": hold_ghosts}


def apply_coupled(
    vars25: np.ndarray, dx: float, u: np.ndarray, w: np.ndarray, hold_ghosts: bool = False
) -> np.ndarray:
    """Data with psi -> psi + u and Abar -> Abar + L W (A_ij = chi^(3/2) Abar_ij)."""
    x = torch.from_numpy(np.ascontiguousarray(vars25))[None]
    with torch.no_grad():
        a = vars25[C_A] + delta_a(torch.from_numpy(w)[None], x, dx, hold_ghosts)[0].numpy()
    out = vars25.copy()
    chi0 = vars25[IDX["chi"]]
    chi_new = np.clip(chi0**-0.25 + u, 1e-3, None) ** -4.0
    out[C_A] = a * (chi_new / chi0) ** 1.5
    out[IDX["chi"]] = chi_new
    return out
