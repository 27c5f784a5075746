"""Thermal properties at 300 K: a stiffer crystal has less entropy and the same classical
heat capacity limit; identical force constants give zero errors."""

from __future__ import annotations

import numpy as np
from fc_helpers import rocksalt_phonopy

from fcpredict.thermal import thermal_errors, thermal_properties


def _springs(ph, k: float) -> None:
    """Nearest-neighbour central springs of stiffness k (eV/A^2) as compact fc."""
    from phonopy.harmonic.force_constants import full_fc_to_compact_fc

    sc = ph.supercell
    n = len(sc)
    pos, lat = sc.positions, sc.cell
    fc = np.zeros((n, n, 3, 3))
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            d = pos[j] - pos[i]
            frac = np.linalg.solve(lat.T, d)
            d = (frac - np.round(frac)) @ lat
            r = np.linalg.norm(d)
            if r < 2.1:  # nearest neighbours at a/2 = 2.0 A
                u = d / r
                fc[i, j] -= k * np.outer(u, u)
        fc[i, i] = -fc[i].sum(axis=0)
    ph.force_constants = full_fc_to_compact_fc(ph.primitive, fc)


def test_stiffer_crystal_lower_entropy_and_zero_self_error() -> None:
    soft, stiff = rocksalt_phonopy(a=4.0, dim=2), rocksalt_phonopy(a=4.0, dim=2)
    _springs(soft, 1.0)
    _springs(stiff, 4.0)
    ps = thermal_properties(soft, mesh=(4, 4, 4))
    pk = thermal_properties(stiff, mesh=(4, 4, 4))
    ratio = pk["max_freq_thz"] / ps["max_freq_thz"]
    assert abs(ratio - 2.0) < 1e-6  # frequencies scale as sqrt(k)
    assert pk["entropy_j_k_mol_atom"] < ps["entropy_j_k_mol_atom"]
    assert pk["free_energy_kj_mol_atom"] > ps["free_energy_kj_mol_atom"]
    assert 0 < ps["cv_j_k_mol_atom"] <= 3 * 8.314462618 + 1e-9  # below Dulong-Petit 3R
    assert ps["imaginary_modes"] == 0
    err = thermal_errors(soft, soft, mesh=(4, 4, 4))
    assert all(abs(v) < 1e-12 for v in err.values())
