"""The continuum constraint left after a correction, and its convergence from dx to dx/2.

After a Newton correction the *discrete* Hamiltonian constraint Ham_h (4th-order stencils) is
zero to solver tolerance, so measuring it says nothing about the physics. What is left is the
truncation error: the continuum constraint of the corrected data is Ham(y_h) = -C h^4 + O(h^6)
with C a sixth derivative of the solution, bounded away from the punctures. It is estimated with
a 6th-order accurate evaluation by Richardson extrapolation of the same constraint core:

    Ham_R = (16 Ham_h - Ham_2h) / 15,

where Ham_2h applies the 4th-order stencils with spacing 2h on the same points (the grid split
into its 8 stride-2 sub-grids). The truncation error of every 4th-order stencil (first, second
and mixed derivatives) is a series in even powers of h, and Ham is a smooth function of the
derivatives, so Ham_h = Ham + C h^4 + O(h^6), Ham_2h = Ham + 16 C h^4 + O(h^6), and Ham_R =
Ham + O(h^6). Likewise for Mom. Ham_R needs 4 cells on each side: it is returned on the cells
[4:-4] of every axis.

:func:`aligned_grids` gives the same physical data at h and h/2 with every coarse point also a
fine point (the same origin, 2n - 1 fine points span the same box), so the two resolutions are
compared on common points, away from the punctures and the boundary.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nrfix.constraints import constraints

MARGIN = 4
"""Cells per side that :func:`continuum_constraints` cannot evaluate (stride-2 stencils)."""


def _ham_mom(vars25: np.ndarray, dx: float) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        c = constraints(torch.from_numpy(np.ascontiguousarray(vars25))[None], dx)
    return c["Ham"][0].numpy(), c["Mom"][0].numpy()


def continuum_constraints(vars25: np.ndarray, dx: float) -> tuple[np.ndarray, np.ndarray]:
    """6th-order estimates (Richardson, module doc) of Ham (X-8, Y-8, Z-8) and Mom (3, ...).

    Parameters
    ----------
    vars25
        (25, X, Y, Z) CCZ4 data, at least 13 cells per axis.
    dx
        Grid spacing.

    Returns
    -------
    tuple of numpy.ndarray
        Ham and Mom_i on the cells [4:-4] of every axis.
    """
    if min(vars25.shape[1:]) < 2 * MARGIN + 5:
        raise ValueError(f"grid {vars25.shape[1:]} too small for the stride-2 stencils")
    ham_h, mom_h = _ham_mom(vars25, dx)
    m = MARGIN - 2  # Ham_h is on [2:-2]; crop it to [4:-4]
    ham_h, mom_h = ham_h[m:-m, m:-m, m:-m], mom_h[:, m:-m, m:-m, m:-m]
    ham_2h, mom_2h = np.zeros_like(ham_h), np.zeros_like(mom_h)
    for a in (0, 1):
        for b in (0, 1):
            for c in (0, 1):
                h2, m2 = _ham_mom(vars25[:, a::2, b::2, c::2], 2 * dx)
                # sub-grid interior point i sits at fine index o + 2 (i + 2) = 4 + o + 2 i;
                # in the cropped arrays (offset 4) that is o + 2 i
                sl = tuple(slice(o, None, 2) for o in (a, b, c))
                fit = tuple(slice(0, n) for n in ham_2h[sl].shape)
                ham_2h[sl] = h2[fit]
                mom_2h[(slice(None), *sl)] = m2[(slice(None), *fit)]
    return (16.0 * ham_h - ham_2h) / 15.0, (16.0 * mom_h - mom_2h) / 15.0


def aligned_grids(
    family: str, params: dict[str, Any], n: int, box: float, offset: float = 0.013
) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """The same physical data at h = box / (n - 1) (n points) and h/2 (2n - 1 points).

    Both grids start at ``-box/2 + offset`` (the offset keeps punctures off the points), so
    coarse point j is fine point 2j. Returns [(vars, dx, coords (3, X, Y, Z)), coarse, fine].
    """
    from nrfix.data import generate, grid_coords

    origin = np.full(3, -box / 2 + offset)
    out = []
    for m in (n, 2 * n - 1):
        dx = box / (m - 1)
        g = generate(family, params, (m,) * 3, dx, origin)
        out.append((g.vars, dx, grid_coords((m,) * 3, dx, origin)))
    return out


def common_region(
    coords: np.ndarray, punctures: list[dict], r_min: float, margin_cells: int = MARGIN
) -> np.ndarray:
    """Bool mask on the cells [4:-4] of the COARSE grid: farther than ``r_min`` from every
    puncture (coords (3, X, Y, Z) of the coarse grid) and ``margin_cells`` beyond the 4 cells
    :func:`continuum_constraints` drops.
    """
    inner = coords[:, MARGIN:-MARGIN, MARGIN:-MARGIN, MARGIN:-MARGIN]
    keep = np.ones(inner.shape[1:], bool)
    for p in punctures:
        d = inner - np.asarray(p["pos"], dtype=np.float64)[:, None, None, None]
        keep &= np.sqrt((d * d).sum(0)) > r_min
    if margin_cells > MARGIN:
        e = margin_cells - MARGIN
        edge = np.zeros_like(keep)
        edge[e:-e, e:-e, e:-e] = True
        keep &= edge
    return keep


def on_coarse_points(fine_field: np.ndarray) -> np.ndarray:
    """A field on the fine grid's cells [4:-4] restricted to the coarse grid's cells [4:-4].

    Fine index 2j is coarse index j; the fine crop starts at fine index 4 = coarse index 2, so
    coarse cell 4 + i is fine-crop index 4 + 2 i.
    """
    sl = slice(MARGIN, None, 2)
    return fine_field[..., sl, sl, sl]


def convergence_norms(
    coarse: np.ndarray, fine: np.ndarray, dxs: tuple[float, float], region: np.ndarray
) -> dict[str, float]:
    """RMS of the continuum |Ham| and ||Mom|| of coarse and fine data on ``region`` (common
    points), their ratios coarse/fine and the orders log2(ratio) (4th order: ratio 16).
    """
    out: dict[str, float] = {}
    vals = {}
    for tag, v, dx in (("coarse", coarse, dxs[0]), ("fine", fine, dxs[1])):
        ham, mom = continuum_constraints(v, dx)
        mom = np.sqrt((mom**2).sum(0))
        if tag == "fine":
            ham, mom = on_coarse_points(ham), on_coarse_points(mom)
        ham, mom = (
            ham[: region.shape[0], : region.shape[1], : region.shape[2]],
            mom[: region.shape[0], : region.shape[1], : region.shape[2]],
        )
        vals[tag] = (ham[region], mom[region])
    for i, name in enumerate(("ham", "mom")):
        rc = float(np.sqrt(np.mean(vals["coarse"][i] ** 2)))
        rf = float(np.sqrt(np.mean(vals["fine"][i] ** 2)))
        out[f"{name}_rms_coarse"], out[f"{name}_rms_fine"] = rc, rf
        out[f"{name}_ratio"] = rc / max(rf, 1e-300)
        ratio = out[f"{name}_ratio"]
        out[f"{name}_order"] = float(np.log2(ratio)) if ratio > 0 else float("nan")
    out["points"] = int(region.sum())
    return out
