"""Apply a trained model: predict force constants of a phonopy supercell and score them.

Metrics (predicted vs reference force constants of the same supercell):
MAE and relative Frobenius error ||Phi - Phi_ref||_F / ||Phi_ref||_F (eV/A^2), phonon-frequency
MAE (THz) on a Gamma-centred mesh and along the seekpath band path, index-symmetry and
acoustic-sum-rule errors of the prediction, the number of imaginary (negative) modes of
both (real references can have them, e.g. CaTiO3), and the errors of the heat capacity,
vibrational entropy and free energy at 300 K and of the maximum frequency
(:mod:`fcpredict.thermal`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fcpredict.graph import Graph
from fcpredict.hessian import asr_error, force_constants, index_symmetry_error, symmetrize_fc
from fcpredict.thermal import thermal_errors

__all__ = ["predict_fc", "finite_displacement_fc", "phonon_metrics", "band_paths", "NEG_THZ"]

NEG_THZ = -0.05
"""Frequencies below this (THz) count as imaginary modes."""


def supercell_graph(ph: Any, cutoff: float, dtype: torch.dtype, device: torch.device) -> Graph:
    """Graph of ``ph.supercell`` (lengths in Angstrom)."""
    from fcpredict.neighbours import crystal_graph

    sc = ph.supercell
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype, device=device)  # noqa: E731
    numbers = torch.as_tensor(np.asarray(sc.numbers), device=device)
    return crystal_graph(t(sc.positions), t(sc.cell), numbers, cutoff)


def predict_fc(
    model: torch.nn.Module,
    ph: Any,
    cutoff: float,
    mode: str = "primitive",
    compact: bool = True,
    symmetrize: bool = False,
) -> np.ndarray:
    """Force constants (eV/A^2) of ``ph.supercell`` from the model's exact Hessian."""
    p = next(model.parameters())
    graph = supercell_graph(ph, cutoff, p.dtype, p.device)
    if not symmetrize:
        return force_constants(model, graph, ph, mode=mode, compact=compact)
    from phonopy.harmonic.force_constants import full_fc_to_compact_fc

    full = force_constants(model, graph, ph, mode=mode, compact=False)
    full = symmetrize_fc(full)
    return full_fc_to_compact_fc(ph.primitive, full) if compact else full


def finite_displacement_fc(
    model: torch.nn.Module, ph: Any, cutoff: float, distance: float = 0.01
) -> np.ndarray:
    """Compact fc from phonopy's symmetry-reduced finite displacements with the model's forces.

    The model's own residual forces of the undisplaced supercell are subtracted. Not exact
    (O(distance^2) error), but it needs only one energy+forces call per displacement, which
    for high-symmetry crystals (Si: 1 displacement) beats 3 n_prim exact rows.
    """
    from fcpredict.hessian import energy_and_forces
    from fcpredict.phonopy_io import make_phonopy

    p = next(model.parameters())
    work = make_phonopy(ph.unitcell, ph.supercell_matrix, ph.primitive_matrix)
    work.generate_displacements(distance=distance)

    def forces(cell: Any) -> np.ndarray:
        t = lambda a: torch.as_tensor(np.asarray(a), dtype=p.dtype, device=p.device)  # noqa: E731
        from fcpredict.neighbours import crystal_graph

        g = crystal_graph(t(cell.positions), t(cell.cell), torch.as_tensor(cell.numbers), cutoff)
        return energy_and_forces(model, g)[1].detach().double().cpu().numpy()

    f0 = forces(work.supercell)
    work.forces = np.array([forces(c) - f0 for c in work.supercells_with_displacements])
    work.produce_force_constants()
    from fcpredict.phonopy_io import to_compact

    return to_compact(work, np.asarray(work.force_constants))


def band_paths(ph: Any, npoints: int = 31) -> list[np.ndarray]:
    """Seekpath band path of the primitive cell (list of (npoints, 3) q segments)."""
    from phonopy.phonon.band_structure import get_band_qpoints_by_seekpath

    bands, _, _ = get_band_qpoints_by_seekpath(ph.primitive, npoints)
    return bands


def _freqs(ph: Any, mesh: Any, bands: list) -> tuple[np.ndarray, np.ndarray]:
    ph.run_mesh(mesh, with_eigenvectors=False, is_gamma_center=True)
    f_mesh = np.array(ph.mesh.frequencies)
    ph.run_band_structure(bands)
    f_band = np.concatenate(ph.band_structure.frequencies)
    return f_mesh, f_band


def phonon_metrics(
    ph_pred: Any, ph_ref: Any, mesh: Any = (8, 8, 8), npoints: int = 31
) -> dict[str, float]:
    """Compare the force constants held by two phonopy objects of the same supercell."""
    from phonopy.harmonic.force_constants import compact_fc_to_full_fc

    def full(ph: Any) -> np.ndarray:
        fc = np.asarray(ph.force_constants)
        return fc if fc.shape[0] == fc.shape[1] else compact_fc_to_full_fc(ph.primitive, fc)

    fp, fr = full(ph_pred), full(ph_ref)
    try:
        bands = band_paths(ph_ref, npoints)
    except Exception:  # seekpath can refuse unusual cells; fall back to Gamma-X-M
        bands = [
            np.linspace([0, 0, 0], [0.5, 0, 0], npoints),
            np.linspace([0.5, 0, 0], [0.5, 0.5, 0], npoints),
        ]
    pm, pb = _freqs(ph_pred, mesh, bands)
    rm, rb = _freqs(ph_ref, mesh, bands)
    return {
        "fc_mae_ev_a2": float(np.abs(fp - fr).mean()),
        "fc_rel_frobenius": float(np.linalg.norm(fp - fr) / np.linalg.norm(fr)),
        "freq_mae_mesh_thz": float(np.abs(pm - rm).mean()),
        "freq_mae_band_thz": float(np.abs(pb - rb).mean()),
        "index_symmetry_error_ev_a2": index_symmetry_error(fp),
        "asr_error_ev_a2": asr_error(fp),
        "negative_modes_pred": int((pm < NEG_THZ).sum()),
        "negative_modes_ref": int((rm < NEG_THZ).sum()),
        "mesh_modes": int(pm.size),
        **thermal_errors(ph_pred, ph_ref, mesh),
    }
