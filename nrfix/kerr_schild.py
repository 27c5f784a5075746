"""Kerr-Schild data for every puncture with its momentum P and spin S.

Each hole is a Kerr black hole in Kerr-Schild form, g_mu nu = eta_mu nu + 2 H l_mu l_nu with

    r^4 - (rho^2 - a^2) r^2 - a^2 z^2 = 0,   H = M r^3 / (r^4 + a^2 z^2),
    l_mu = (1, (r x + a y) / (r^2 + a^2), (r y - a x) / (r^2 + a^2), z / r),

in its rest frame with the spin a = |S| / M along z (rotated onto S), boosted with velocity
v = P / sqrt(M^2 + |P|^2) (the Kerr-Schild form is Lorentz covariant: l_mu -> Lambda^a_mu l_a).
One hole is an exact solution; several are superposed (g = eta + sum_a 2 H_a l^a l^a), which
is the standard approximate (constraint-violating) superposed Kerr-Schild data.
The 3+1 split at t = 0: gamma_ij = g_ij, beta_i = g_0i, alpha = (-g^00)^(-1/2),
K_ij = (-d_t gamma_ij + D_i beta_j + D_j beta_i) / (2 alpha); d_t and the spatial derivatives
are 4th-order central differences of the analytic metric with step ``H_STEP``.
"""

from __future__ import annotations

import numpy as np

from common.errors import UserError

H_STEP = 1e-3


def _rotation(spin: np.ndarray) -> np.ndarray:
    """Orthogonal R with R e_z = spin / |spin| (identity for no spin)."""
    norm = np.linalg.norm(spin)
    if norm == 0:
        return np.eye(3)
    e3 = spin / norm
    trial = np.array([1.0, 0, 0]) if abs(e3[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = np.cross(trial, e3)
    e1 /= np.linalg.norm(e1)
    return np.stack([e1, np.cross(e3, e1), e3], axis=1)


def _hole(t: float, xyz: np.ndarray, p: dict) -> tuple[np.ndarray, np.ndarray]:
    """H (...) and the lab-frame covector l_mu (4, ...) of one boosted, spinning hole."""
    m = float(p["m"])
    mom = np.asarray(p.get("P", (0, 0, 0)), dtype=np.float64)
    spin = np.asarray(p.get("S", (0, 0, 0)), dtype=np.float64)
    if np.linalg.norm(spin) >= m * m:
        raise ValueError(f"Kerr-Schild puncture with |S| = {np.linalg.norm(spin):.3g} >= m^2")
    v = mom / np.sqrt(m * m + mom @ mom)
    gamma = 1.0 / np.sqrt(1.0 - v @ v)
    lam = np.eye(4)  # Lambda^a_mu = d x'^a / d x^mu (boost to the rest frame)
    lam[0, 0], lam[0, 1:] = gamma, -gamma * v
    if v @ v > 0:
        vv = np.outer(v, v) / (v @ v)
        lam[1:, 0], lam[1:, 1:] = -gamma * v, np.eye(3) + (gamma - 1.0) * vv
    d = xyz - np.asarray(p["pos"], dtype=np.float64)[:, None, None, None]
    x4 = np.concatenate([np.full((1, *xyz.shape[1:]), t), d])
    xr = np.einsum("ab,b...->a...", lam, x4)
    rot = _rotation(spin)
    xs = np.einsum("ji,j...->i...", rot, xr[1:])  # rest frame, spin along z
    a = np.linalg.norm(spin) / m
    rho2 = (xs**2).sum(0)
    r2 = 0.5 * (rho2 - a * a) + np.sqrt(0.25 * (rho2 - a * a) ** 2 + a * a * xs[2] ** 2)
    r = np.sqrt(r2)
    h = m * r**3 / (r2 * r2 + a * a * xs[2] ** 2)
    ls = np.stack([(r * xs[0] + a * xs[1]) / (r2 + a * a), (r * xs[1] - a * xs[0]) / (r2 + a * a),
                   xs[2] / r])  # fmt: skip
    l_rest = np.concatenate([np.ones((1, *xyz.shape[1:])), np.einsum("ij,j...->i...", rot, ls)])
    return h, np.einsum("am,a...->m...", lam, l_rest)


def metric4(t: float, xyz: np.ndarray, punctures: list[dict]) -> np.ndarray:
    """G_mu nu (4, 4, ...) of the superposed holes at time t."""
    g = np.zeros((4, 4, *xyz.shape[1:]))
    g += np.diag([-1.0, 1.0, 1.0, 1.0])[:, :, None, None, None]
    for p in punctures:
        h, l4 = _hole(t, xyz, p)
        g += 2.0 * h * l4[:, None] * l4[None, :]
    return g


def _d(fn, step: float) -> np.ndarray:  # noqa: ANN001
    """4th-order central difference of fn(offset) at 0."""
    return (fn(-2 * step) - 8 * fn(-step) + 8 * fn(step) - fn(2 * step)) / (12 * step)


def fields(punctures: list[dict], xyz: np.ndarray) -> dict[str, np.ndarray]:
    """Gamma (3,3,...), kij (3,3,...), lapse (...), shift (3,...) at t = 0 on xyz (3, ...)."""
    g4 = metric4(0.0, xyz, punctures)
    gamma, beta_l = g4[1:, 1:], g4[0, 1:]
    g_uu = np.moveaxis(np.linalg.inv(np.moveaxis(gamma, (0, 1), (-2, -1))), (-2, -1), (0, 1))
    shift = np.einsum("ij...,j...->i...", g_uu, beta_l)
    alpha2 = (shift * beta_l).sum(0) - g4[0, 0]  # alpha^2 = beta_i beta^i - g_00
    bad = ~(alpha2 > 0)
    if bad.any():  # holes too close: the superposed t = const slice is not spacelike there
        raise UserError(
            f"superposed Kerr-Schild holes too close: the lapse is not real in {int(bad.sum())} "
            f"of {bad.size} cells (alpha^2 min {np.nanmin(alpha2):.3g}); move them apart "
            "or lower their masses"
        )
    lapse = np.sqrt(alpha2)
    dt_gamma = _d(lambda s: metric4(s, xyz, punctures)[1:, 1:], H_STEP)
    dg = np.zeros((4, 4, 3, *xyz.shape[1:]))  # d_k g_mu nu
    for k in range(3):
        e = np.zeros((3, 1, 1, 1))
        e[k] = 1.0
        dg[:, :, k] = _d(lambda s, e=e: metric4(0.0, xyz + s * e, punctures), H_STEP)
    dgam, dbeta = dg[1:, 1:], dg[0, 1:]  # [i, j, k] = d_k gamma_ij; [j, k] = d_k beta_j
    # Gamma_lij = (d_i gamma_lj + d_j gamma_li - d_l gamma_ij) / 2
    gam_l = 0.5 * (np.einsum("lji...->lij...", dgam) + dgam - np.einsum("ijl...->lij...", dgam))
    dbeta_sym = np.einsum("jk...->kj...", dbeta) + dbeta  # d_i beta_j + d_j beta_i
    kij = (-dt_gamma + dbeta_sym - 2.0 * np.einsum("lij...,l...->ij...", gam_l, shift)) / (
        2 * lapse
    )
    return {"gamma": gamma, "kij": kij, "lapse": lapse, "shift": shift}
