"""Periodic graph = brute-force image search, in any cell shape; edges differentiable."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from fcpredict.graph import batch_graphs, edge_vectors, neighbor_list


def brute_force(pos: np.ndarray, cell: np.ndarray, cutoff: float, n: int) -> set:
    """Every (i, j, S) with |S_k| <= n and distance < cutoff, by explicit loops."""
    out = set()
    for s in itertools.product(range(-n, n + 1), repeat=3):
        t = np.array(s) @ cell
        for i in range(len(pos)):
            for j in range(len(pos)):
                if s == (0, 0, 0) and i == j:
                    continue
                if np.linalg.norm(pos[j] + t - pos[i]) < cutoff:
                    out.add((i, j, *s))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_skewed_cells(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cell = np.eye(3) * 3.0 + rng.normal(scale=0.9, size=(3, 3))  # skewed triclinic
    if np.linalg.det(cell) < 0:
        cell[0] *= -1
    pos = rng.uniform(-0.5, 1.5, size=(5, 3)) @ cell  # deliberately not wrapped
    cutoff = 4.0
    ei, sh = neighbor_list(torch.tensor(pos), torch.tensor(cell), cutoff)
    got = {(int(a), int(b), *map(int, s)) for a, b, s in zip(ei[0], ei[1], sh)}
    assert len(got) == ei.shape[1]  # no duplicates
    want = brute_force(pos, cell, cutoff, n=8)
    assert got == want and len(want) > 20


def test_small_cell_contains_self_images() -> None:
    cell = np.eye(3) * 2.0
    ei, sh = neighbor_list(torch.zeros(1, 3, dtype=torch.float64), torch.tensor(cell), 2.1)
    assert ei.shape[1] == 6  # the six face neighbours are the atom's own images
    assert (ei == 0).all()


def test_edge_vectors_differentiable_and_batched() -> None:
    cell = torch.eye(3, dtype=torch.float64) * 3.0
    pos = torch.tensor([[0.0, 0.0, 0.0], [1.5, 1.5, 1.5]], dtype=torch.float64)
    g = batch_graphs(
        [(pos, cell, torch.tensor([11, 17])), (pos[:1], cell * 1.2, torch.tensor([14]))], cutoff=3.5
    )
    assert g.num_graphs == 2 and g.positions.shape == (3, 3)
    assert (g.batch[g.edge_index[0]] == g.batch[g.edge_index[1]]).all()
    p = g.positions.clone().requires_grad_(True)
    vec = edge_vectors(g, p)
    assert (vec.norm(dim=-1) < 3.5).all()
    (vec.norm(dim=-1) ** 2).sum().backward()
    assert p.grad is not None and torch.isfinite(p.grad).all()


def test_singular_cell_is_an_error() -> None:
    with pytest.raises(ValueError, match="singular"):
        neighbor_list(torch.zeros(2, 3), torch.zeros(3, 3), 3.0)
