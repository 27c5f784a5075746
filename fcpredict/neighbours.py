"""Neighbour lists from a maintained library (ase's ``primitive_neighbor_list``).

Returns the same (edge_index, shifts) convention as :func:`fcpredict.graph.neighbor_list`
(the brute-force search, kept as the test oracle):

    r_ij = r_j - r_i + S_ij @ cell,   |r_ij| < cutoff,   edge_index = (i centre, j neighbour)

The search runs without gradients; edge vectors are rebuilt from positions with
:func:`fcpredict.graph.edge_vectors`, so they stay differentiable.
"""

from __future__ import annotations

import numpy as np
import torch

from fcpredict.graph import Graph

__all__ = ["ase_neighbor_list", "crystal_graph"]


@torch.no_grad()
def ase_neighbor_list(
    positions: torch.Tensor, cell: torch.Tensor, cutoff: float, pbc: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """All (i, j, S) with |r_j - r_i + S @ cell| < cutoff, via ase (linear scaling bins).

    Parameters
    ----------
    positions : (N, 3) Cartesian Angstrom (need not be wrapped).
    cell : (3, 3) lattice vectors as rows.
    cutoff : radius in Angstrom.
    pbc : periodic in all three directions (False: molecule).

    Returns
    -------
    edge_index : (2, E) int64, rows (centre i, neighbour j).
    shifts : (E, 3) int64 lattice shifts S.
    """
    from ase.neighborlist import primitive_neighbor_list

    pos = positions.detach().cpu().double().numpy()
    lat = cell.detach().cpu().double().numpy()
    if pbc and abs(np.linalg.det(lat)) < 1e-8:
        raise ValueError("cell is singular (zero volume)")
    if not pbc:
        lat = np.eye(3) * (np.ptp(pos, axis=0).max() + 2 * cutoff + 1.0)
    i, j, s = primitive_neighbor_list(
        "ijS",
        [pbc] * 3,
        lat,
        pos,
        float(cutoff),
        self_interaction=False,
        use_scaled_positions=False,
    )
    dev = positions.device
    edge_index = torch.as_tensor(np.stack([i, j]), dtype=torch.long, device=dev)
    return edge_index, torch.as_tensor(s, dtype=torch.long, device=dev)


def crystal_graph(
    positions: torch.Tensor, cell: torch.Tensor, numbers: torch.Tensor, cutoff: float
) -> Graph:
    """One periodic crystal as a :class:`~fcpredict.graph.Graph` (ase neighbour list)."""
    ei, sh = ase_neighbor_list(positions, cell, cutoff)
    n = positions.shape[0]
    return Graph(
        positions=positions,
        cells=cell[None].to(positions.dtype),
        numbers=numbers.long(),
        batch=torch.zeros(n, dtype=torch.long, device=positions.device),
        edge_index=ei,
        shifts=sh.to(positions.dtype),
        num_graphs=1,
    )
