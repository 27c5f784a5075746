"""Analytic CCZ4 initial data on uniform grids, and the training crop sampler.

Families (physical metric gamma_ij, extrinsic curvature K_ij, lapse, shift^i; G = c = 1):

- ``schwarzschild``: isotropic, gamma = psi^4 delta, psi = 1 + M/(2r), K_ij = 0 (exact).
- ``kerr_schild``: gamma_ij = delta_ij + 2H l_i l_j, H = M/r, l = x/r, alpha = (1+2H)^-1/2,
  K_ij = (2H alpha / r)[delta_ij - (2+H) l_i l_j] (exact, not conformally flat, K != 0).
  With a momentum P, a spin S or several punctures: boosted Kerr holes, superposed
  (:mod:`nrfix.kerr_schild`; exact for one hole).
- ``brill_lindquist``: psi = 1 + sum_a m_a/(2 r_a), K_ij = 0 (exact).
- ``bowen_york``: BL psi with K_ij = psi^-2 Abar_ij, Abar the Bowen-York momenta/spins
  (REFERENCES.md); Mom = 0 but Ham = -psi^-12 Abar_ij Abar_ij (the known violation).

An optional smooth coordinate transformation x^i = X^i + eps_i sin(omega X^(i+1)) makes h_ij
non-flat: gamma'_IJ = J^i_I J^j_J gamma_ij(x(X)), likewise K; shift'^I = (J^-1)^I_i shift^i.
The conformal decomposition is chi = det(gamma)^(-1/3), h = chi gamma, K = gamma^ij K_ij,
A_ij = chi (K_ij - K gamma_ij / 3); Gamma^i = h^jk Gamma~^i_jk by 4th-order differences;
Theta = B^i = 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from common.errors import UserError
from nrfix.constraints import NUM_VARS, christoffel, diff1, full_to_sym, inverse_sym
from nrfix.formats import GridData

FAMILIES = ("schwarzschild", "kerr_schild", "brill_lindquist", "bowen_york")
EYE = np.eye(3)


def _rel(xyz: np.ndarray, pos: Any) -> tuple[np.ndarray, np.ndarray]:
    d = xyz - np.asarray(pos, dtype=np.float64)[:, None, None, None]
    return d, np.sqrt((d * d).sum(0))


def _psi_bl(xyz: np.ndarray, punctures: list[dict]) -> np.ndarray:
    psi = np.ones(xyz.shape[1:])
    for p in punctures:
        psi = psi + p["m"] / (2.0 * _rel(xyz, p["pos"])[1])
    return psi


def bowen_york_abar(xyz: np.ndarray, punctures: list[dict]) -> np.ndarray:
    """Flat-space Bowen-York Abar_ij (3, 3, ...) summed over punctures (momenta P, spins S)."""
    abar = np.zeros((3, 3) + xyz.shape[1:])
    for p in punctures:
        d, r = _rel(xyz, p["pos"])
        n = d / r
        mom = np.asarray(p.get("P", (0, 0, 0)), dtype=np.float64)[:, None, None, None]
        spin = np.asarray(p.get("S", (0, 0, 0)), dtype=np.float64)
        n_dot_p = (n * mom).sum(0)
        pn = mom[:, None] * n[None, :]
        proj = EYE[:, :, None, None, None] - n[:, None] * n[None, :]
        abar += 1.5 / r**2 * (pn + pn.transpose(1, 0, 2, 3, 4) - proj * n_dot_p)
        sxn = np.cross(spin[:, None, None, None], n, axis=0)
        sn = sxn[:, None] * n[None, :]
        abar += 3.0 / r**3 * (sn + sn.transpose(1, 0, 2, 3, 4))
    return abar


def physical_fields(family: str, params: dict, xyz: np.ndarray) -> dict[str, np.ndarray]:
    """Gamma (3,3,...), kij (3,3,...), lapse (...), shift (3,...) of ``family`` at xyz (3,...)."""
    shape = xyz.shape[1:]
    zero33 = np.zeros((3, 3) + shape)
    punct = params["punctures"]
    moving = any(np.any(p.get("P", 0)) or np.any(p.get("S", 0)) for p in punct)
    if family == "kerr_schild" and (len(punct) > 1 or moving):
        from nrfix.kerr_schild import fields

        return fields(punct, xyz)  # every puncture, boosted by P, spinning with S
    if family == "kerr_schild":
        d, r = _rel(xyz, punct[0]["pos"])
        m = punct[0]["m"]
        el, hh = d / r, m / r
        ll = el[:, None] * el[None, :]
        gamma = EYE[:, :, None, None, None] + 2 * hh * ll
        alpha = (1 + 2 * hh) ** -0.5
        kij = 2 * hh * alpha / r * (EYE[:, :, None, None, None] - (2 + hh) * ll)
        shift = 2 * hh * el / (1 + 2 * hh)
        return {"gamma": gamma, "kij": kij, "lapse": alpha, "shift": shift}
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    psi = _psi_bl(xyz, punct)
    gamma = psi**4 * EYE[:, :, None, None, None]
    kij = bowen_york_abar(xyz, punct) / psi**2 if family == "bowen_york" else zero33
    if family == "schwarzschild":
        half = punct[0]["m"] / (2 * _rel(xyz, punct[0]["pos"])[1])
        lapse = (1 - half) / (1 + half)
    else:
        lapse = psi**-2  # pre-collapsed lapse, as GRChombo's BinaryBH
    return {"gamma": gamma, "kij": kij, "lapse": lapse, "shift": np.zeros((3,) + shape)}


def _transform(fields: dict, xyz_new: np.ndarray, tr: dict) -> dict:
    """Pull the fields back to X coordinates with x^i = X^i + eps_i sin(omega X^(i+1))."""
    eps, om = np.asarray(tr["eps"], dtype=np.float64), float(tr["omega"])
    jac = np.zeros((3, 3) + xyz_new.shape[1:])
    jac += EYE[:, :, None, None, None]
    for i in range(3):
        jac[i, (i + 1) % 3] += eps[i] * om * np.cos(om * xyz_new[(i + 1) % 3])
    out = dict(fields)
    out["gamma"] = np.einsum("iI...,jJ...,ij...->IJ...", jac, jac, fields["gamma"])
    out["kij"] = np.einsum("iI...,jJ...,ij...->IJ...", jac, jac, fields["kij"])
    jinv = np.moveaxis(np.linalg.inv(np.moveaxis(jac, (0, 1), (-2, -1))), (-2, -1), (0, 1))
    out["shift"] = np.einsum("Ii...,i...->I...", jinv, fields["shift"])
    return out


def grid_coords(shape: tuple[int, int, int], dx: float, origin: Any) -> np.ndarray:
    """Cell-centre coordinates (3, X, Y, Z); ``origin`` is the centre of cell (0, 0, 0)."""
    axes = [origin[a] + dx * np.arange(shape[a]) for a in range(3)]
    return np.stack(np.meshgrid(*axes, indexing="ij"))


def generate(
    family: str, params: dict, shape: tuple[int, int, int], dx: float, origin: Any
) -> GridData:
    """Evaluate ``family`` with ``params`` on a cell-centred grid -> :class:`GridData` (25 vars).

    params: {"punctures": [{"m", "pos", "P", "S"}, ...], "transform": {"eps": [3], "omega"} | None}.
    """
    pad = 2  # extra cells so Gamma^i can be differenced at every output cell
    big = tuple(s + 2 * pad for s in shape)
    xyz_new = grid_coords(big, dx, np.asarray(origin, dtype=np.float64) - pad * dx)
    tr = params.get("transform")
    xyz = xyz_new.copy()
    if tr:
        for i in range(3):
            xyz[i] = xyz_new[i] + tr["eps"][i] * np.sin(tr["omega"] * xyz_new[(i + 1) % 3])
    f = physical_fields(family, params, xyz)
    if tr:
        f = _transform(f, xyz_new, tr)
    vars25 = conformal_decomposition(f, dx)
    if not np.isfinite(vars25).all():
        raise UserError(
            f"{family} data with these parameters are not finite in "
            f"{int((~np.isfinite(vars25)).any(0).sum())} cells (a puncture on a cell centre?)"
        )
    sl = (slice(None),) + tuple(slice(pad, -pad) for _ in range(3))
    attrs = {"family": family, **params}
    return GridData(vars25[sl].copy(), float(dx), np.asarray(origin, dtype=np.float64), {}, attrs)


def conformal_decomposition(f: dict[str, np.ndarray], dx: float) -> np.ndarray:
    """(gamma, kij, lapse, shift) -> (25, X, Y, Z) CCZ4 variables; Gamma^i is valid 2 cells in."""
    g = torch.from_numpy(f["gamma"])[None]
    g_uu = inverse_sym(g)
    det = torch.linalg.det(g.permute(0, 3, 4, 5, 1, 2))
    chi = det ** (-1.0 / 3.0)
    kij = torch.from_numpy(f["kij"])[None]
    k_tr = torch.einsum("bij...,bij...->b...", g_uu, kij)
    h = chi[:, None, None] * g
    a = chi[:, None, None] * (kij - k_tr[:, None, None] * g / 3.0)
    out = torch.zeros((NUM_VARS,) + g.shape[3:], dtype=torch.float64)
    out[0], out[1:7], out[7], out[8:14] = chi[0], full_to_sym(h)[0], k_tr[0], full_to_sym(a)[0]
    h_uu = inverse_sym(h[..., 2:-2, 2:-2, 2:-2])
    _, ull = christoffel(diff1(h, dx), h_uu)
    out[15:18, 2:-2, 2:-2, 2:-2] = torch.einsum("bjk...,bijk...->bi...", h_uu, ull)[0]
    out[18] = torch.from_numpy(f["lapse"])
    out[19:22] = torch.from_numpy(f["shift"])
    return out.numpy()


def sample_params(rng: np.random.Generator, cfg: Any) -> dict:
    """Random puncture parameters of one configuration (``cfg``: :class:`DataConfig`)."""
    n = int(rng.integers(1, cfg.max_punctures + 1))
    punct = []
    for _ in range(n):
        pos = rng.uniform(-cfg.position_max, cfg.position_max, 3)
        mom = rng.normal(size=3)
        spin = rng.normal(size=3)
        mom *= rng.uniform(0, cfg.momentum_max) / np.linalg.norm(mom)
        spin *= rng.uniform(0, cfg.spin_max) / np.linalg.norm(spin)
        m = float(rng.uniform(cfg.mass_min, cfg.mass_max))
        if cfg.family == "kerr_schild":  # a Kerr hole needs |S| < m^2
            spin *= min(1.0, 0.9 * m * m / max(np.linalg.norm(spin), 1e-300))
        punct.append({"m": m, "pos": pos.tolist(), "P": mom.tolist(), "S": spin.tolist()})
    params: dict[str, Any] = {"punctures": punct}
    if cfg.transform_eps > 0:
        eps = rng.uniform(-cfg.transform_eps, cfg.transform_eps, 3)
        params["transform"] = {"eps": eps.tolist(), "omega": float(2 * np.pi / cfg.box)}
    return params


MIX_KINDS = ("bowen_york", "bowen_york_warped", "kerr_schild", "kerr_schild_superposed")


def mix_params(rng: np.random.Generator, cfg: Any, i: int) -> tuple[str, dict, int]:
    """The i-th configuration of ``data.family: mix``: (family, params, cells per axis).

    Kinds cycle through Bowen-York (1-2 punctures, masses in [mass_min, mass_max], |P| up to
    momentum_max, |S| up to spin_max), the same warped (eps up to transform_eps, at least
    0.03), Kerr-Schild with one hole and with two superposed holes; the grid alternates
    between ``grid`` and ``grid`` + 4 cells on the same box (two dx).
    """
    from dataclasses import replace

    kind = MIX_KINDS[i % len(MIX_KINDS)]
    n = cfg.grid + 4 * ((i // len(MIX_KINDS)) % 2)
    sub = replace(cfg, family="kerr_schild" if kind.startswith("kerr") else "bowen_york")
    if kind == "kerr_schild":
        sub = replace(sub, max_punctures=1)
    elif kind == "kerr_schild_superposed":
        sub = replace(sub, max_punctures=2)
    sub = replace(sub, transform_eps=max(cfg.transform_eps, 0.03) if kind.endswith("warped") else 0)
    params = sample_params(rng, sub)
    if kind == "kerr_schild_superposed" and len(params["punctures"]) < 2:
        params["punctures"] += sample_params(rng, replace(sub, max_punctures=1))["punctures"]
    return sub.family, params, n


def make_split(cfg: Any, split: str) -> list[GridData]:
    """Generate the ``train`` (stream 0), ``val`` (1) or ``test`` (2) configurations."""
    stream = {"train": 0, "val": 1, "test": 2}[split]
    count = {"train": cfg.n_train, "val": cfg.n_val, "test": cfg.n_val}[split]
    rng = np.random.default_rng([cfg.seed, stream])
    out = []
    for i in range(count):
        out.append(_draw(rng, cfg, i))
    return out


def _draw(rng: np.random.Generator, cfg: Any, i: int) -> GridData:
    """The i-th grid of a split: configurations that cannot be evaluated (superposed
    Kerr-Schild holes so close that the lapse is not real) are redrawn, up to 50 times.
    """
    last = ""
    for _ in range(50):
        if cfg.family == "mix":
            family, params, n = mix_params(rng, cfg, i)
        else:
            family, params, n = cfg.family, sample_params(rng, cfg), cfg.grid
        dx = cfg.box / n
        try:
            return generate(family, params, (n,) * 3, dx, np.full(3, -cfg.box / 2 + dx / 2))
        except UserError as exc:
            last = str(exc)
    raise UserError(f"no valid {cfg.family} configuration in 50 draws (last: {last})")


def random_crops(bank: torch.Tensor, crop: int, count: int, gen: torch.Generator) -> torch.Tensor:
    """``count`` random (25, crop, crop, crop) crops of a (N, 25, G, G, G) bank."""
    n, _, *dims = bank.shape
    idx = torch.randint(0, n, (count,), generator=gen)
    out = []
    for i in idx.tolist():
        o = [int(torch.randint(0, d - crop + 1, (1,), generator=gen)) for d in dims]
        out.append(bank[i, :, o[0] : o[0] + crop, o[1] : o[1] + crop, o[2] : o[2] + crop])
    return torch.stack(out)
