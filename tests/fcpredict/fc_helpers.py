"""Small float64 crystals and model settings shared by the fcpredict tests."""

from __future__ import annotations

import numpy as np
import torch

from fcpredict.config import ModelConfig

TINY = ModelConfig(
    irreps_node_embedding="8x0e+4x1o+2x2e",
    num_layers=2,
    num_heads=2,
    num_rbf=8,
    radial_hidden=16,
    cutoff=3.6,
)


def rocksalt(a: float = 4.0, rattle: float = 0.0, seed: int = 0):
    """Conventional rock-salt cell (8 atoms): positions (8, 3), cell (3, 3), numbers (8,)."""
    frac = np.array(
        [
            [0, 0, 0],
            [0, 0.5, 0.5],
            [0.5, 0, 0.5],
            [0.5, 0.5, 0],
            [0.5, 0.5, 0.5],
            [0.5, 0, 0],
            [0, 0.5, 0],
            [0, 0, 0.5],
        ]
    )
    cell = np.eye(3) * a
    pos = frac @ cell + np.random.default_rng(seed).normal(scale=rattle, size=(8, 3))
    return (torch.tensor(pos), torch.tensor(cell), torch.tensor([11] * 4 + [17] * 4))


def rocksalt_phonopy(a: float = 4.0, dim: int = 1):
    """Phonopy object of rock salt (fcc primitive, 2 atoms) with a conventional supercell."""
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    unit = PhonopyAtoms(
        symbols=["Na"] * 4 + ["Cl"] * 4,
        cell=np.eye(3) * a,
        scaled_positions=[
            [0, 0, 0],
            [0, 0.5, 0.5],
            [0.5, 0, 0.5],
            [0.5, 0.5, 0],
            [0.5, 0.5, 0.5],
            [0.5, 0, 0],
            [0, 0.5, 0],
            [0, 0, 0.5],
        ],
    )
    return Phonopy(unit, supercell_matrix=np.eye(3, dtype=int) * dim, primitive_matrix="F")


def supercell_graph(phonon, cutoff: float):
    """Graph of phonon.supercell in float64."""
    from fcpredict.graph import batch_graphs

    sc = phonon.supercell
    return batch_graphs(
        [(torch.tensor(sc.positions), torch.tensor(sc.cell), torch.tensor(sc.numbers))], cutoff
    )
