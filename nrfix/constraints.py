"""CCZ4 Hamiltonian and momentum constraints as differentiable float64 torch operators.

Follows GRChombo ``Source/CCZ4/NewConstraints.impl.hpp`` and ``CCZ4Geometry::compute_ricci``
(the conformal Ricci tensor is built from the metric alone: the evolved Gamma^i is replaced
by Gamma~^i = h^jk Gamma~^i_jk and its derivative by the analytic derivative of that
contraction), so Ham and Mom depend only on chi, h_ij, K and A_ij.

    Ham   = R + (2/3) K^2 - A_ij A^ij
    Mom_i = -(2/3) d_i K + h^jk D~_k A_ij - (3/2) h^jk A_ij d_k chi / chi

with D~_k A_ij = d_k A_ij - Gamma~^l_ki A_lj - Gamma~^l_kj A_il (minus on both Christoffel terms;
a public port has a plus on the second one and then fails on Kerr-Schild data).
The "abs terms" are the sums of the magnitudes of the individual terms, giving the
scale-free measures ||Ham|| / ||Ham_abs||.

Layout: fields are ``(B, 25, X, Y, Z)`` with array axes (D, H, W) = (x, y, z), uniform
spacing ``dx`` in code units. Derivatives are 4th-order centred with 2 ghost cells, so every
output is on the interior ``(B, X-4, Y-4, Z-4)``.
"""

from __future__ import annotations

import torch

VAR_NAMES: tuple[str, ...] = (
    "chi",
    "h11",
    "h12",
    "h13",
    "h22",
    "h23",
    "h33",
    "K",
    "A11",
    "A12",
    "A13",
    "A22",
    "A23",
    "A33",
    "Theta",
    "Gamma1",
    "Gamma2",
    "Gamma3",
    "lapse",
    "shift1",
    "shift2",
    "shift3",
    "B1",
    "B2",
    "B3",
)
"""The 25 CCZ4 variables in GRChombo order (``CCZ4UserVariables.hpp``)."""

NUM_VARS = len(VAR_NAMES)
IDX = {name: i for i, name in enumerate(VAR_NAMES)}
GHOSTS = 2
_SYM = (0, 1, 2, 1, 3, 4, 2, 4, 5)  # 3x3 (row-major) -> index into (11, 12, 13, 22, 23, 33)
C_H = slice(1, 7)
C_A = slice(8, 14)


def sym_to_full(t6: torch.Tensor) -> torch.Tensor:
    """(B, 6, ...) symmetric components -> (B, 3, 3, ...) full tensor."""
    full = t6[:, list(_SYM)]
    return full.reshape(t6.shape[0], 3, 3, *t6.shape[2:])


def full_to_sym(t: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3, ...) -> (B, 6, ...) upper-triangle components (11, 12, 13, 22, 23, 33)."""
    return torch.stack([t[:, 0, 0], t[:, 0, 1], t[:, 0, 2], t[:, 1, 1], t[:, 1, 2], t[:, 2, 2]], 1)


def _shift(f: torch.Tensor, axis: int, off: int, trim: int = GHOSTS) -> torch.Tensor:
    """Slice ``f`` along ``axis`` (negative) shifted by ``off``, trimming ``trim`` per side."""
    n = f.shape[axis]
    return f.narrow(axis, trim + off, n - 2 * trim)


def _d1_axis(f: torch.Tensor, axis: int, dx: float) -> torch.Tensor:
    """4th-order d/dx_axis: (1/12, -2/3, 0, 2/3, -1/12)/dx; shortens ``axis`` by 4."""
    s = lambda o: _shift(f, axis, o)  # noqa: E731
    return (s(-2) - 8.0 * s(-1) + 8.0 * s(1) - s(2)) / (12.0 * dx)


def _d2_axis(f: torch.Tensor, axis: int, dx: float) -> torch.Tensor:
    """4th-order d2/dx_axis^2: (-1/12, 4/3, -5/2, 4/3, -1/12)/dx^2; shortens ``axis`` by 4."""
    s = lambda o: _shift(f, axis, o)  # noqa: E731
    return (-s(-2) + 16.0 * s(-1) - 30.0 * s(0) + 16.0 * s(1) - s(2)) / (12.0 * dx * dx)


def _crop(f: torch.Tensor, axes: tuple[int, ...]) -> torch.Tensor:
    for a in axes:
        f = f.narrow(a, GHOSTS, f.shape[a] - 2 * GHOSTS)
    return f


def interior(f: torch.Tensor) -> torch.Tensor:
    """Drop the 2 ghost cells on each side of the last three (spatial) axes."""
    return _crop(f, (-3, -2, -1))


def diff1(f: torch.Tensor, dx: float) -> torch.Tensor:
    """First derivatives: (..., X, Y, Z) -> (..., 3, X-4, Y-4, Z-4), index k = d/dx^k."""
    axes = (-3, -2, -1)
    out = [_crop(_d1_axis(f, a, dx), tuple(b for b in axes if b != a)) for a in axes]
    return torch.stack(out, dim=-4)


def diff2(f: torch.Tensor, dx: float) -> torch.Tensor:
    """Second derivatives: (..., X, Y, Z) -> (..., 3, 3, X-4, Y-4, Z-4) symmetric in (k, l).

    Mixed derivatives are the outer product of two d1 stencils (GRChombo ``diff2`` mixed).
    """
    axes = (-3, -2, -1)
    rows: list[list[torch.Tensor | None]] = [[None] * 3 for _ in range(3)]
    for k, a in enumerate(axes):
        rows[k][k] = _crop(_d2_axis(f, a, dx), tuple(b for b in axes if b != a))
        for m in range(k + 1, 3):
            b = axes[m]
            mixed = _d1_axis(_d1_axis(f, a, dx), b, dx)
            rows[k][m] = rows[m][k] = _crop(mixed, tuple(c for c in axes if c not in (a, b)))
    return torch.stack([torch.stack(r, dim=-4) for r in rows], dim=-5)  # type: ignore[arg-type]


def det_sym(h: torch.Tensor) -> torch.Tensor:
    """Determinant of a symmetric (B, 3, 3, ...) tensor -> (B, ...)."""
    return (
        h[:, 0, 0] * (h[:, 1, 1] * h[:, 2, 2] - h[:, 1, 2] * h[:, 2, 1])
        - h[:, 0, 1] * (h[:, 1, 0] * h[:, 2, 2] - h[:, 1, 2] * h[:, 2, 0])
        + h[:, 0, 2] * (h[:, 1, 0] * h[:, 2, 1] - h[:, 1, 1] * h[:, 2, 0])
    )


def inverse_sym(h: torch.Tensor) -> torch.Tensor:
    """Inverse of a symmetric (B, 3, 3, ...) tensor by cofactors (GRChombo compute_inverse_sym)."""
    det = det_sym(h)
    c00 = h[:, 1, 1] * h[:, 2, 2] - h[:, 1, 2] * h[:, 1, 2]
    c01 = h[:, 0, 2] * h[:, 1, 2] - h[:, 0, 1] * h[:, 2, 2]
    c02 = h[:, 0, 1] * h[:, 1, 2] - h[:, 0, 2] * h[:, 1, 1]
    c11 = h[:, 0, 0] * h[:, 2, 2] - h[:, 0, 2] * h[:, 0, 2]
    c12 = h[:, 0, 1] * h[:, 0, 2] - h[:, 0, 0] * h[:, 1, 2]
    c22 = h[:, 0, 0] * h[:, 1, 1] - h[:, 0, 1] * h[:, 0, 1]
    rows = [[c00, c01, c02], [c01, c11, c12], [c02, c12, c22]]
    return torch.stack([torch.stack(r, 1) for r in rows], 1) / det[:, None, None]


def christoffel(dh: torch.Tensor, h_uu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Conformal Christoffels from dh[b,i,j,k] = d_k h_ij.

    Returns (LLL, ULL): LLL[i,j,k] = (d_k h_ij + d_j h_ik - d_i h_jk)/2 = Gamma~_ijk,
    ULL[i,j,k] = h^il LLL[l,j,k] = Gamma~^i_jk.
    """
    lll = 0.5 * (
        torch.einsum("bjik...->bijk...", dh)
        + torch.einsum("bkij...->bijk...", dh)
        - torch.einsum("bjki...->bijk...", dh)
    )
    ull = torch.einsum("bil...,bljk...->bijk...", h_uu, lll)
    return lll, ull


def _d_chris_contracted(h_uu: torch.Tensor, dh: torch.Tensor, d2h: torch.Tensor) -> torch.Tensor:
    """d_j Gamma~^i computed from the metric (det h = 1): [b, i, j, ...].

    d_j Gamma~^i = h^im h^np (d_j d_p h_mn - h^qr (d_j h_nq d_r h_mp + d_j h_mn d_r h_pq)).
    """
    t = d2h - torch.einsum("bqr...,bnqj...,bmpr...->bmnjp...", h_uu, dh, dh)
    t = t - torch.einsum("bqr...,bmnj...,bpqr...->bmnjp...", h_uu, dh, dh)
    return torch.einsum("bim...,bnp...,bmnjp...->bij...", h_uu, h_uu, t)


def conformal_ricci(h: torch.Tensor, d: dict[str, torch.Tensor]) -> torch.Tensor:
    """R~_ij of the conformal metric h (Gamma~^i from the metric), [b, i, j, ...]; ``d`` as in
    :func:`ricci_scalar` (h_uu, lll, ull, dh, d2h).
    """
    h_uu, lll, ull, dh, d2h = d["h_uu"], d["lll"], d["ull"], d["dh"], d["d2h"]
    gam = torch.einsum("bjk...,bijk...->bi...", h_uu, ull)
    dgam = _d_chris_contracted(h_uu, dh, d2h)
    llu = torch.einsum("bkl...,bijl...->bijk...", h_uu, lll)
    hd = torch.einsum("bki...,bkj...->bij...", h, dgam)
    r_hat = 0.5 * (hd + hd.transpose(1, 2)) + 0.5 * torch.einsum("bk...,bijk...->bij...", gam, dh)
    r_hat = r_hat - 0.5 * torch.einsum("bkl...,bijkl...->bij...", h_uu, d2h)
    prod = torch.einsum("bkli...,bjkl...->bij...", ull, llu)
    r_hat = r_hat + prod + prod.transpose(1, 2)
    return r_hat + torch.einsum("bkil...,bkjl...->bij...", ull, llu)


def ricci_scalar(chi: torch.Tensor, h: torch.Tensor, d: dict[str, torch.Tensor]) -> torch.Tensor:
    """Physical Ricci scalar R of gamma_ij = h_ij / chi from chi, h and their derivatives.

    ``d`` holds h_uu, lll, ull, dchi [b,k], d2chi [b,k,l], dh [b,i,j,k], d2h [b,i,j,k,l].
    R_ij = R^chi_ij + R~_ij with (GRChombo ``compute_ricci``, Gamma~^i from the metric)
    R~_ij = h_k(i d_j) G^k + G^k Gamma~_(ij)k - h^kl d_k d_l h_ij / 2 + Christoffel products,
    R^chi_ij = [D~_i D~_j chi + h_ij D~^2 chi
               - (d_i chi d_j chi + 3 h_ij |d chi|^2)/(2 chi)] / (2 chi).
    """
    h_uu, ull, dchi, d2chi = d["h_uu"], d["ull"], d["dchi"], d["d2chi"]
    covd2chi = d2chi - torch.einsum("bmkl...,bm...->bkl...", ull, dchi)
    box_chi = torch.einsum("bij...,bij...->b...", covd2chi, h_uu)
    dchi2 = torch.einsum("bi...,bj...,bij...->b...", dchi, dchi, h_uu)
    r_hat = conformal_ricci(h, d)
    outer = torch.einsum("bi...,bj...->bij...", dchi, dchi)
    c = chi[:, None, None]
    r_chi = 0.5 * (
        covd2chi + h * box_chi[:, None, None] - (outer + 3.0 * h * dchi2[:, None, None]) / (2 * c)
    )
    ricci_ll = (r_chi + c * r_hat) / c
    return chi * torch.einsum("bij...,bij...->b...", ricci_ll, h_uu)


def constraints(
    vars25: torch.Tensor, dx: float, chi_floor: float = 1e-6
) -> dict[str, torch.Tensor]:
    """Ham, Mom and their abs terms of CCZ4 data.

    Args:
        vars25: (B, 25, X, Y, Z) float64 in GRChombo order, 2 ghost cells included.
        dx: grid spacing (code units; Ham has units 1/length^2, Mom 1/length^2 too).
        chi_floor: chi regularisation in the d chi / chi term of Mom (GRChombo: 1e-6).

    Returns
    -------
        dict with ``Ham`` (B, X-4, Y-4, Z-4), ``Mom`` (B, 3, ...), ``Ham_abs`` and ``Mom_abs``
        (same shapes as Ham and Mom) and ``chi`` (interior, for excision).
    """
    if vars25.dim() != 5 or vars25.shape[1] != NUM_VARS:
        raise ValueError(f"expected (B, {NUM_VARS}, X, Y, Z), got {tuple(vars25.shape)}")
    if min(vars25.shape[2:]) < 2 * GHOSTS + 1:
        raise ValueError(f"grid {tuple(vars25.shape[2:])} too small for 4th-order stencils")
    chi_g, h_g = vars25[:, 0], sym_to_full(vars25[:, C_H])
    chi, h = interior(chi_g), interior(h_g)
    k_tr, a = interior(vars25[:, IDX["K"]]), interior(sym_to_full(vars25[:, C_A]))
    h_uu = inverse_sym(h)
    dh = diff1(h_g, dx)
    lll, ull = christoffel(dh, h_uu)
    d = {
        "h_uu": h_uu,
        "lll": lll,
        "ull": ull,
        "dh": dh,
        "d2h": diff2(h_g, dx),
        "dchi": diff1(chi_g, dx),
        "d2chi": diff2(chi_g, dx),
    }
    ricci = ricci_scalar(chi, h, d)
    a_uu = torch.einsum("bik...,bjl...,bkl...->bij...", h_uu, h_uu, a)
    tr_a2 = torch.einsum("bij...,bij...->b...", a, a_uu)
    kk = (2.0 / 3.0) * k_tr * k_tr
    ham = ricci + kk - tr_a2
    ham_abs = ricci.abs() + tr_a2.abs() + kk.abs()
    dk = diff1(vars25[:, IDX["K"]], dx)
    da = diff1(sym_to_full(vars25[:, C_A]), dx)  # [b, j, k, i] = d_i A_jk
    # covd_A[i][j][k] = d_i A_jk - G^l_ij A_lk - G^l_ik A_lj
    covd_a = torch.einsum("bjki...->bijk...", da)
    covd_a = covd_a - torch.einsum("blij...,blk...->bijk...", ull, a)
    covd_a = covd_a - torch.einsum("blik...,blj...->bijk...", ull, a)
    covd_term = torch.einsum("bjk...,bkji...->bi...", h_uu, covd_a)
    chi_reg = torch.clamp(chi, min=chi_floor)
    chi_term = (
        -1.5 * torch.einsum("bjk...,bij...,bk...->bi...", h_uu, a, d["dchi"]) / chi_reg[:, None]
    )
    k_term = -(2.0 / 3.0) * dk
    mom = k_term + covd_term + chi_term
    mom_abs = k_term.abs() + covd_term.abs() + chi_term.abs()
    return {"Ham": ham, "Mom": mom, "Ham_abs": ham_abs, "Mom_abs": mom_abs, "chi": chi}


def ham_parts(vars25: torch.Tensor, dx: float) -> dict[str, torch.Tensor]:
    """Everything Ham needs except chi: h^ij, Gamma~^i_jk, h^ij R~_ij, A_ij A^ij, (2/3) K^2.

    With h, K and A~ = chi^(-3/2) A_ij held fixed, :func:`ham_of_chi` gives Ham as a function
    of chi alone (the conformal-factor direction), for Newton steps by JVP.
    """
    h_g = sym_to_full(vars25[:, C_H])
    h = interior(h_g)
    h_uu = inverse_sym(h)
    dh = diff1(h_g, dx)
    lll, ull = christoffel(dh, h_uu)
    d = {"h_uu": h_uu, "lll": lll, "ull": ull, "dh": dh, "d2h": diff2(h_g, dx)}
    r_hat = torch.einsum("bij...,bij...->b...", conformal_ricci(h, d), h_uu)
    a = interior(sym_to_full(vars25[:, C_A]))
    a_uu = torch.einsum("bik...,bjl...,bkl...->bij...", h_uu, h_uu, a)
    k_tr = interior(vars25[:, IDX["K"]])
    return {
        "h_uu": h_uu,
        "ull": ull,
        "r_hat": r_hat,
        "tr_a2": torch.einsum("bij...,bij...->b...", a, a_uu),
        "kk": (2.0 / 3.0) * k_tr * k_tr,
        "chi0": interior(vars25[:, IDX["chi"]]),
    }


def ham_of_chi(chi_g: torch.Tensor, parts: dict[str, torch.Tensor], dx: float) -> torch.Tensor:
    """Ham (B, X-4, Y-4, Z-4) as a function of the conformal factor chi_g (B, X, Y, Z).

    The other fields come from :func:`ham_parts`; A_ij is rescaled by (chi / chi0)^(3/2):

        Ham = 2 D~^2 chi - (5/2) |d chi|^2 / chi + chi h^ij R~_ij - (chi/chi0)^3 A.A + (2/3) K^2.
    """
    h_uu, ull = parts["h_uu"], parts["ull"]
    chi = interior(chi_g)
    dchi, d2chi = diff1(chi_g, dx), diff2(chi_g, dx)
    covd2chi = d2chi - torch.einsum("bmkl...,bm...->bkl...", ull, dchi)
    box_chi = torch.einsum("bij...,bij...->b...", covd2chi, h_uu)
    dchi2 = torch.einsum("bi...,bj...,bij...->b...", dchi, dchi, h_uu)
    ricci = 2.0 * box_chi - 2.5 * dchi2 / chi + chi * parts["r_hat"]
    return ricci - (chi / parts["chi0"]) ** 3 * parts["tr_a2"] + parts["kk"]


def mom_parts(vars25: torch.Tensor, dx: float, chi_floor: float = 1e-6) -> dict[str, torch.Tensor]:
    """Everything Mom needs except A_ij: h^ij, Gamma~^i_jk, d chi / chi and -(2/3) d K.

    Mom is affine in A_ij, so :func:`mom_of_a` with these parts is Mom for any A_ij.
    """
    h_g = sym_to_full(vars25[:, C_H])
    h_uu = inverse_sym(interior(h_g))
    _, ull = christoffel(diff1(h_g, dx), h_uu)
    chi = torch.clamp(interior(vars25[:, IDX["chi"]]), min=chi_floor)
    return {
        "h_uu": h_uu,
        "ull": ull,
        "dlogchi": diff1(vars25[:, IDX["chi"]], dx) / chi[:, None],
        "k_term": -(2.0 / 3.0) * diff1(vars25[:, IDX["K"]], dx),
    }


def mom_of_a(a6_g: torch.Tensor, parts: dict[str, torch.Tensor], dx: float) -> torch.Tensor:
    """Mom_i (B, 3, X-4, Y-4, Z-4) for A_ij given as (B, 6, X, Y, Z) components.

    Mom_i = -(2/3) d_i K + h^jk D~_k A_ij - (3/2) h^jk A_ij d_k chi / chi (see
    :func:`constraints`), with the other fields from :func:`mom_parts`.
    """
    h_uu, ull = parts["h_uu"], parts["ull"]
    a_g = sym_to_full(a6_g)
    a = interior(a_g)
    covd_a = torch.einsum("bjki...->bijk...", diff1(a_g, dx))
    covd_a = covd_a - torch.einsum("blij...,blk...->bijk...", ull, a)
    covd_a = covd_a - torch.einsum("blik...,blj...->bijk...", ull, a)
    covd_term = torch.einsum("bjk...,bkji...->bi...", h_uu, covd_a)
    chi_term = -1.5 * torch.einsum("bjk...,bij...,bk...->bi...", h_uu, a, parts["dlogchi"])
    return parts["k_term"] + covd_term + chi_term
