"""Fold supercell force constants onto a smaller commensurate cell (cheaper Hessian losses).

A DFT supercell S = diag(d) x unit cell holds compact force constants Phi_S[a, j] (rows of the
primitive atoms a). For a cell M = diag(d') x unit cell with d'_k dividing d_k, the energy
Hessian of M-periodic displacements is the image sum

    Phi_M[a', j'] = sum_{j in S that are images of j' under the lattice of M} Phi_S[a, j]

exactly (the force constants at the wave vectors commensurate with M). A model's exact
Hessian on M obeys the same identity, so a Hessian loss on M supervises the same physics as
on S at a fraction of the cost (the graph has |M| instead of |S| atoms): e.g. NaCl 64 -> 8
atoms, SnO2 72 -> 12. The folded cell is the smallest one with at least ``min_atoms`` atoms
(fewer wave vectors below that); ties go to the most isotropic lattice.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

__all__ = ["fold_dims", "fold_compact_fc"]


def fold_dims(
    dims: tuple[int, ...], n_unit: int, unit_cell: np.ndarray, min_atoms: int
) -> tuple[int, ...]:
    """Divisors d' of ``dims`` with the fewest atoms >= ``min_atoms`` (most isotropic on ties).

    Returns ``dims`` itself when no smaller cell qualifies.
    """
    divs = [[k for k in range(1, d + 1) if d % k == 0] for d in dims]
    best, key_best = tuple(dims), None
    lengths = np.linalg.norm(np.asarray(unit_cell, dtype=float), axis=1)
    for dp in itertools.product(*divs):
        n = n_unit * int(np.prod(dp))
        if n < min_atoms:
            continue
        edge = lengths * np.asarray(dp)
        key = (n, float(edge.max() / edge.min()))
        if key_best is None or key < key_best:
            best, key_best = tuple(int(k) for k in dp), key
    return best


def fold_compact_fc(
    sc_positions: np.ndarray,
    fc: np.ndarray,
    p2s: list[int],
    folded_cell: np.ndarray,
    n_expected: int,
    tol: float = 1e-4,
) -> tuple[np.ndarray, np.ndarray, list[int], list[int]]:
    """Fold compact fc (n_prim, N, 3, 3) of a supercell onto the lattice ``folded_cell``.

    Parameters
    ----------
    sc_positions : (N, 3) Cartesian positions of the supercell atoms (Angstrom).
    fc : (n_prim, N, 3, 3) compact force constants (rows of the atoms ``p2s``).
    p2s : supercell indices of the primitive atoms.
    folded_cell : (3, 3) lattice vectors (rows) of the folded cell; a sublattice of the
        supercell's translations.
    n_expected : number of atoms the folded cell must have (consistency check).

    Returns
    -------
    (fc_M (n_prim, n_M, 3, 3), positions_M (n_M, 3), p2s_M, s2m (N,) map of S atoms to M atoms)
    """
    pos = np.asarray(sc_positions, dtype=float)
    frac = pos @ np.linalg.inv(np.asarray(folded_cell, dtype=float))
    frac = frac - np.floor(frac + tol)
    keys: dict[tuple[int, int, int], int] = {}
    s2m, reps = np.empty(len(pos), dtype=int), []
    for j, f in enumerate(frac):
        k = tuple(int(x) for x in np.round(f / tol) % round(1 / tol))
        if k not in keys:
            keys[k] = len(reps)
            reps.append(j)
        s2m[j] = keys[k]
    if len(reps) != n_expected:
        raise ValueError(f"folding found {len(reps)} atoms, expected {n_expected}")
    out = np.zeros((fc.shape[0], len(reps), 3, 3), dtype=fc.dtype)
    np.add.at(out, (slice(None), s2m), np.asarray(fc))
    p2s_m = [int(s2m[a]) for a in p2s]
    if len(set(p2s_m)) != len(p2s_m):
        raise ValueError("two primitive atoms fold onto the same atom")
    return out, pos[reps], p2s_m, s2m.tolist()


def folded_cell_of(ph: Any, min_atoms: int) -> tuple[np.ndarray, int] | None:
    """(lattice, atoms) of the folded cell of a phonopy object, None if no smaller cell."""
    smat = np.asarray(ph.supercell_matrix)
    if not np.allclose(smat, np.diag(np.diag(smat))):
        return None
    dims = tuple(int(x) for x in np.diag(smat))
    unit = np.asarray(ph.unitcell.cell)
    dp = fold_dims(dims, len(ph.unitcell), unit, min_atoms)
    if dp == dims:
        return None
    return np.diag(dp) @ unit, len(ph.unitcell) * int(np.prod(dp))
