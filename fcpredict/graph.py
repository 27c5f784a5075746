"""Periodic crystal graphs in plain torch.

A crystal is (positions_a (N, 3) Cartesian Angstrom, cell_a (3, 3) with lattice vectors as
rows, numbers (N,) atomic numbers). An edge (i <- j, S) connects the centre atom i to the
periodic image of atom j translated by the integer lattice vector S:

    r_ij = r_j - r_i + S @ cell,      |r_ij| < cutoff,    (i, j, S) != (i, i, 0)

Every image within the cutoff is kept (small or skewed cells contain an atom's own images
and several images of the same neighbour). The search itself runs without gradients; the
edge vectors are recomputed from ``positions`` and ``cell`` with :func:`edge_vectors`, so they
are differentiable in both (forces, Hessians, stress).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["Graph", "neighbor_list", "batch_graphs", "edge_vectors", "image_range"]


@dataclass
class Graph:
    """A batch of B periodic crystals with N atoms in total and E edges.

    positions: (N, 3) Angstrom; cells: (B, 3, 3) Angstrom (rows = lattice vectors);
    numbers: (N,) int64 atomic numbers; batch: (N,) crystal index of each atom;
    edge_index: (2, E) int64 rows (centre i, neighbour j); shifts: (E, 3) integer image
    shifts S stored as float of the positions' dtype; num_graphs: B.
    """

    positions: torch.Tensor
    cells: torch.Tensor
    numbers: torch.Tensor
    batch: torch.Tensor
    edge_index: torch.Tensor
    shifts: torch.Tensor
    num_graphs: int

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> Graph:
        """Move (and optionally cast the float tensors of) the graph."""
        fdt = dtype or self.positions.dtype
        return Graph(
            positions=self.positions.to(device, fdt),
            cells=self.cells.to(device, fdt),
            numbers=self.numbers.to(device),
            batch=self.batch.to(device),
            edge_index=self.edge_index.to(device),
            shifts=self.shifts.to(device, fdt),
            num_graphs=self.num_graphs,
        )


def image_range(cell: torch.Tensor, cutoff: float) -> list[int]:
    """Number of images n_k needed along each lattice vector for wrapped positions.

    The spacing of lattice planes normal to reciprocal vector b_k is 1/|b_k|, so a vector of
    length <= cutoff spans at most cutoff*|b_k| plane spacings; with fractional coordinates in
    [0, 1) their difference adds at most one more.
    """
    recip = torch.linalg.inv(cell.double()).T  # rows b_k with a_i . b_k = delta_ik
    return [int(math.ceil(cutoff * float(torch.linalg.norm(b)))) + 1 for b in recip]


def _shift_grid(n: list[int], device: torch.device) -> torch.Tensor:
    """All integer shifts S with |S_k| <= n_k, (M, 3) int64."""
    axes = [torch.arange(-k, k + 1, device=device) for k in n]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)


@torch.no_grad()
def neighbor_list(
    positions: torch.Tensor,
    cell: torch.Tensor,
    cutoff: float,
    pbc: bool = True,
    chunk_pairs: int = 4_000_000,
) -> tuple[torch.Tensor, torch.Tensor]:
    """All (i, j, S) with |r_j - r_i + S @ cell| < cutoff, in any cell shape.

    Returns ``edge_index`` (2, E) int64 and ``shifts`` (E, 3) int64. Positions need not be
    wrapped into the cell: the search runs on wrapped coordinates and the shifts are corrected
    back, so the returned S refers to the positions as given. ``pbc=False`` gives the plain
    (molecular) neighbour list.
    """
    pos = positions.detach().double()
    n_atoms = pos.shape[0]
    if not pbc:
        shifts_grid = torch.zeros(1, 3, dtype=torch.long, device=pos.device)
        offset = torch.zeros(n_atoms, 3, dtype=torch.long, device=pos.device)
        wrapped, lat = pos, torch.eye(3, dtype=pos.dtype, device=pos.device)
    else:
        lat = cell.detach().double()
        if abs(float(torch.linalg.det(lat))) < 1e-8:
            raise ValueError("cell is singular (zero volume)")
        frac = pos @ torch.linalg.inv(lat)
        offset = torch.floor(frac).long()
        wrapped = (frac - offset) @ lat
        shifts_grid = _shift_grid(image_range(lat, cutoff), pos.device)
    per_chunk = max(1, chunk_pairs // max(1, n_atoms * n_atoms))
    src, dst, sh = [], [], []
    for start in range(0, shifts_grid.shape[0], per_chunk):
        s = shifts_grid[start : start + per_chunk]  # (M, 3)
        t = s.double() @ lat  # (M, 3)
        # d[m, i, j] = r_j + t_m - r_i
        d = wrapped[None, None, :, :] + t[:, None, None, :] - wrapped[None, :, None, :]
        dist2 = (d * d).sum(-1)
        mask = dist2 < cutoff * cutoff
        zero = (s == 0).all(-1)
        if zero.any():
            eye = torch.eye(n_atoms, dtype=torch.bool, device=pos.device)
            mask[zero] &= ~eye
        m, i, j = mask.nonzero(as_tuple=True)
        src.append(i)
        dst.append(j)
        sh.append(s[m])
    i, j, s = torch.cat(src), torch.cat(dst), torch.cat(sh)
    # r_j(orig) = wrapped_j + off_j @ lat, so S(orig) = S(wrapped) - off_j + off_i
    s = s - offset[j] + offset[i]
    return torch.stack([i, j]), s


def batch_graphs(
    crystals: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    cutoff: float,
    pbc: bool = True,
) -> Graph:
    """Concatenate crystals (positions (N_b, 3), cell (3, 3), numbers (N_b,)) into one Graph."""
    if not crystals:
        raise ValueError("no crystals to batch")
    pos_l, num_l, bat_l, ei_l, sh_l, cells = [], [], [], [], [], []
    offset = 0
    for b, (pos, cell, numbers) in enumerate(crystals):
        ei, sh = neighbor_list(pos, cell, cutoff, pbc=pbc)
        pos_l.append(pos)
        num_l.append(numbers.long())
        bat_l.append(torch.full((pos.shape[0],), b, dtype=torch.long, device=pos.device))
        ei_l.append(ei + offset)
        sh_l.append(sh)
        cells.append(cell)
        offset += pos.shape[0]
    positions = torch.cat(pos_l)
    return Graph(
        positions=positions,
        cells=torch.stack(cells).to(positions.dtype),
        numbers=torch.cat(num_l),
        batch=torch.cat(bat_l),
        edge_index=torch.cat(ei_l, dim=1),
        shifts=torch.cat(sh_l).to(positions.dtype),
        num_graphs=len(crystals),
    )


def edge_vectors(
    graph: Graph, positions: torch.Tensor | None = None, cells: torch.Tensor | None = None
) -> torch.Tensor:
    """Differentiable edge vectors r_ij = r_j - r_i + S_ij @ cell_b(i), shape (E, 3) Angstrom.

    ``positions``/``cells`` default to the graph's own tensors; pass tensors that require grad
    to differentiate the energy with respect to them.
    """
    pos = graph.positions if positions is None else positions
    cel = graph.cells if cells is None else cells
    i, j = graph.edge_index
    lattice = cel[graph.batch[i]]  # (E, 3, 3)
    return pos[j] - pos[i] + torch.einsum("ek,ekc->ec", graph.shifts.to(pos.dtype), lattice)
