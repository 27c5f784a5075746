"""Phonon properties users read: harmonic thermal properties at a temperature, the maximum
frequency and imaginary modes, from a ``phonopy.Phonopy`` that holds force constants.

Per atom of the primitive cell (phonopy's values are per primitive cell, per mole of cells):

    C_v = k_B sum_qn x^2 e^x / (e^x - 1)^2 / N_q,            x = h nu_qn / k_B T
    S   = k_B sum_qn [x / (e^x - 1) - ln(1 - e^-x)] / N_q
    F   = sum_qn [h nu_qn / 2 + k_B T ln(1 - e^-x)] / N_q

(J/K/mol for C_v and S, kJ/mol for F). Modes below phonopy's cutoff frequency (imaginary
ones included) are skipped by phonopy, so a prediction with imaginary modes also loses their
heat capacity: the count of negative modes is reported next to these numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["thermal_properties", "thermal_errors", "NEG_THZ"]

NEG_THZ = -0.05
"""Frequencies below this (THz) count as imaginary modes."""


def thermal_properties(
    ph: Any, mesh: Sequence[int] = (8, 8, 8), temperature: float = 300.0
) -> dict[str, float]:
    """Cv, S (J/K/mol per atom), F (kJ/mol per atom), max frequency (THz), imaginary modes.

    Parameters
    ----------
    ph : phonopy.Phonopy with force constants.
    mesh : Gamma-centred q mesh.
    temperature : K.
    """
    ph.run_mesh(list(mesh), with_eigenvectors=False, is_gamma_center=True)
    freqs = np.asarray(ph.mesh.frequencies)
    ph.run_thermal_properties(temperatures=[float(temperature)], exclude_gamma_acoustic=True)
    tp = ph.get_thermal_properties_dict()
    n = len(ph.primitive)
    return {
        "cv_j_k_mol_atom": float(tp["heat_capacity"][0]) / n,
        "entropy_j_k_mol_atom": float(tp["entropy"][0]) / n,
        "free_energy_kj_mol_atom": float(tp["free_energy"][0]) / n,
        "max_freq_thz": float(freqs.max()),
        "imaginary_modes": int((freqs < NEG_THZ).sum()),
    }


def thermal_errors(
    ph_pred: Any, ph_ref: Any, mesh: Sequence[int] = (8, 8, 8), temperature: float = 300.0
) -> dict[str, float]:
    """Prediction minus reference of :func:`thermal_properties`, plus the relative max-frequency
    error (nu_max,pred / nu_max,ref - 1) and both imaginary-mode counts.
    """
    p = thermal_properties(ph_pred, mesh, temperature)
    r = thermal_properties(ph_ref, mesh, temperature)
    return {
        "cv_err_j_k_mol_atom": p["cv_j_k_mol_atom"] - r["cv_j_k_mol_atom"],
        "entropy_err_j_k_mol_atom": p["entropy_j_k_mol_atom"] - r["entropy_j_k_mol_atom"],
        "free_energy_err_kj_mol_atom": p["free_energy_kj_mol_atom"] - r["free_energy_kj_mol_atom"],
        "max_freq_rel_err": p["max_freq_thz"] / max(r["max_freq_thz"], 1e-9) - 1.0,
        "imaginary_modes_pred": p["imaginary_modes"],
        "imaginary_modes_ref": r["imaginary_modes"],
    }
