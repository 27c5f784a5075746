"""One measurement of constraint violation, before and after a correction, on the same cells.

The cell set is always taken from the INPUT (reference) data: interior cells (2 ghost layers
dropped) with chi_input >= ``chi_excision``. A mask taken from the output would let a
correction "improve" the norms by pushing chi below the threshold where the violation is
largest, or compare different regions (REFERENCES.md, issue 25).

Per data set (:func:`stats`): median, RMS and max of |Ham| and ||Mom|| (Euclidean norm of
Mom_i), the scale-free ``ham_rel`` = ||Ham||_2 / ||Ham_abs||_2 and ``mom_rel`` =
||Mom||_2 / ||Mom_abs||_2, and the ADM surface integrals at the outer boundary of the interior
box (:func:`adm_integrals`):

    M_ADM = 1/(16 pi) oint (d_j gamma_ij - d_i gamma_jj) dS^i,
    P_i   = 1/(8 pi)  oint (K_ij - K gamma_ij) dS^j,

with gamma_ij = h_ij / chi, K_ij = A_ij / chi + K gamma_ij / 3, on the six faces through the
outermost interior cell centres (midpoint rule, dS = dx^2 n). On a finite box these are
approximations of the ADM values; their CHANGE under a correction is what is reported.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from nrfix.constraints import C_A, C_H, IDX, constraints, diff1, interior, sym_to_full

CHI_EXCISION = 0.05
WORSE_TOL = 0.05
"""A correction may not raise a median or RMS norm by more than this fraction."""
GUARDED = ("ham_median", "ham_rms", "mom_median", "mom_rms")
LABELS = {
    "ham_median": "median |Ham|",
    "ham_rms": "RMS |Ham|",
    "mom_median": "median ||Mom||",
    "mom_rms": "RMS ||Mom||",
}


def cell_mask(reference: np.ndarray, chi_excision: float = CHI_EXCISION) -> np.ndarray:
    """(X-4, Y-4, Z-4) bool: interior cells of ``reference`` (25, X, Y, Z) with chi >= threshold."""
    return reference[IDX["chi"], 2:-2, 2:-2, 2:-2] >= chi_excision


def _face_sum(flux: np.ndarray, dx: float) -> float:
    """Oint F^i dS_i over the faces of the box of cell centres; flux (3, X, Y, Z)."""
    total = 0.0
    for ax in range(3):
        lo = np.take(flux[ax], 0, axis=ax)
        hi = np.take(flux[ax], -1, axis=ax)
        total += float(hi.sum() - lo.sum())
    return total * dx * dx


def adm_integrals(vars25: np.ndarray, dx: float) -> dict[str, Any]:
    """ADM mass and linear momentum surface integrals at the outer boundary (module doc)."""
    x = torch.from_numpy(np.ascontiguousarray(vars25))[None]
    chi = x[:, IDX["chi"]]
    gamma = sym_to_full(x[:, C_H]) / chi[:, None, None]
    dg = diff1(gamma, dx)[0].numpy()  # [i, j, k] = d_k gamma_ij
    flux_m = np.einsum("ijj...->i...", dg) - np.einsum("jji...->i...", dg)
    g_in = interior(gamma)[0].numpy()
    k_tr = interior(x[:, IDX["K"]])[0].numpy()
    a_phys = (interior(sym_to_full(x[:, C_A]))[0] / interior(chi)[0]).numpy()
    kij = a_phys + k_tr * g_in / 3.0
    flux_p = kij - k_tr * g_in  # [i, j]: P_i = oint flux_p[i, j] dS^j
    mass = _face_sum(flux_m, dx) / (16.0 * math.pi)
    mom = [_face_sum(flux_p[i], dx) / (8.0 * math.pi) for i in range(3)]
    return {"adm_mass": mass, "adm_momentum": mom}


def fields(vars25: np.ndarray, dx: float) -> dict[str, np.ndarray]:
    """|Ham|, ||Mom|| and their abs terms on the interior (numpy)."""
    with torch.no_grad():
        r = constraints(torch.from_numpy(np.ascontiguousarray(vars25))[None], dx)
    return {
        "ham": r["Ham"][0].abs().numpy(),
        "mom": r["Mom"][0].norm(dim=0).numpy(),
        "ham_abs": r["Ham_abs"][0].numpy(),
        "mom_abs": r["Mom_abs"][0].norm(dim=0).numpy(),
    }


def stats(vars25: np.ndarray, dx: float, mask: np.ndarray) -> dict[str, Any]:
    """Median/RMS/max of |Ham| and ||Mom||, normalised norms and ADM integrals on ``mask``."""
    f = fields(vars25, dx)
    if mask.shape != f["ham"].shape:
        raise ValueError(f"mask {mask.shape} does not match the interior {f['ham'].shape}")
    out: dict[str, Any] = {"cells": int(mask.sum())}
    if not mask.any():
        raise ValueError("no cells left after excision (chi below the threshold everywhere)")
    for name in ("ham", "mom"):
        v = f[name][mask]
        out[f"{name}_median"] = float(np.median(v))
        out[f"{name}_rms"] = float(np.sqrt(np.mean(v**2)))
        out[f"{name}_max"] = float(v.max())
        norm_abs = np.linalg.norm(f[f"{name}_abs"][mask])
        out[f"{name}_rel"] = float(np.linalg.norm(v) / max(norm_abs, 1e-300))
    out.update(adm_integrals(vars25, dx))
    return out


def region_rms(
    reference: np.ndarray, vars25: np.ndarray, dx: float, held: np.ndarray
) -> dict[str, float]:
    """RMS |Ham| and ||Mom|| of ``vars25`` on the input's cells split into ``held`` (bool
    (X, Y, Z): the cells beside the punctures that the prior holds) and the bulk, and the share
    of sum Ham^2 that sits in the held cells. Cells are those of ``reference``.
    """
    mask = cell_mask(reference)
    inner = held[2:-2, 2:-2, 2:-2]
    f = fields(vars25, dx)
    out: dict[str, float] = {}
    for where, m in (("held", mask & inner), ("bulk", mask & ~inner)):
        out[f"{where}_cells"] = int(m.sum())
        for name in ("ham", "mom"):
            out[f"{name}_rms_{where}"] = (
                float(np.sqrt(np.mean(f[name][m] ** 2))) if m.any() else 0.0
            )
    total = float(np.sum(f["ham"][mask] ** 2))
    out["ham2_share_held"] = float(np.sum(f["ham"][mask & inner] ** 2)) / max(total, 1e-300)
    return out


def compare(
    before: np.ndarray, after: np.ndarray, dx: float, chi_excision: float = CHI_EXCISION
) -> dict[str, Any]:
    """Stats of ``before`` and ``after`` on the cells of ``before``; ``ratio`` = after/before
    of every norm (> 1: worse), ``adm_mass_change`` and ``adm_momentum_change``.
    """
    if before.shape != after.shape:
        raise ValueError(f"grids differ: {before.shape} vs {after.shape}")
    mask = cell_mask(before, chi_excision)
    b, a = stats(before, dx, mask), stats(after, dx, mask)
    ratio = {
        k: a[k] / b[k] if b[k] > 0 else (1.0 if a[k] == 0 else math.inf)
        for k in b
        if k.startswith(("ham_", "mom_"))
    }
    dp = [pa - pb for pa, pb in zip(a["adm_momentum"], b["adm_momentum"])]
    return {
        "before": b,
        "after": a,
        "ratio": ratio,
        "adm_mass_change": a["adm_mass"] - b["adm_mass"],
        "adm_momentum_change": dp,
    }


def worse(cmp: dict[str, Any], tol: float = WORSE_TOL) -> list[str]:
    """What got worse than the input by more than ``tol`` (median/RMS of |Ham| and ||Mom||),
    each as '<quantity> <before> -> <after> (<factor>x worse)'; empty when nothing did.
    """
    out = []
    for k in GUARDED:
        r = cmp["ratio"][k]
        if r > 1.0 + tol:
            out.append(
                f"{LABELS[k]} {cmp['before'][k]:.3e} -> {cmp['after'][k]:.3e} ({r:.2f}x worse)"
            )
    return out


def gains(cmp: dict[str, Any]) -> dict[str, float]:
    """Reduction factors before/after (> 1: better) of the guarded norms."""
    return {k: 1.0 / cmp["ratio"][k] if cmp["ratio"][k] > 0 else math.inf for k in GUARDED}
