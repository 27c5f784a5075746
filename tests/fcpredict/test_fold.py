"""Folding supercell force constants onto a smaller commensurate cell (fcpredict.fold): the
image sum of a periodic model's supercell Hessian rows equals its Hessian rows on the small
cell exactly (what makes the cheap fine-tuning loss supervise the same physics)."""

from __future__ import annotations

import numpy as np
import torch
from fc_helpers import rocksalt

from fcpredict.fold import fold_compact_fc, fold_dims
from fcpredict.graph import edge_vectors
from fcpredict.hessian import hessian_rows
from fcpredict.neighbours import crystal_graph


class PairEnergy(torch.nn.Module):
    """Morse pair energy with a smooth cosine cutoff (periodic, twice differentiable)."""

    cutoff = 4.0

    def forward(self, graph, positions=None, cells=None):  # type: ignore[no-untyped-def]
        r = edge_vectors(graph, positions, cells).norm(dim=1)
        fcut = 0.5 * (torch.cos(torch.pi * r / self.cutoff) + 1)
        z = graph.numbers[graph.edge_index[0]] * graph.numbers[graph.edge_index[1]]
        d = 0.2 + 0.001 * z
        e = d * ((1 - torch.exp(-1.3 * (r - 2.8))) ** 2 - 1) * fcut
        return 0.5 * e.sum().reshape(1)


def test_model_rows_on_small_cell_equal_folded_supercell_rows() -> None:
    model = PairEnergy().double()
    pos, cell, z = rocksalt(a=5.6, rattle=0.05, seed=3)  # a rattled 8-atom cell
    shifts = torch.tensor([[i, j, k] for i in range(2) for j in range(2) for k in range(2)])
    big_pos = (pos[None] + (shifts.double() @ cell)[:, None]).reshape(-1, 3)
    big_cell, big_z = 2 * cell, z.repeat(8)
    big = crystal_graph(big_pos, big_cell, big_z, model.cutoff)
    small = crystal_graph(pos, cell, z, model.cutoff)
    p2s = [0, 5]
    rows_big = hessian_rows(model, big, p2s).detach().numpy()
    rows_small = hessian_rows(model, small, p2s).detach().numpy()
    folded, fpos, p2s_m, s2m = fold_compact_fc(big_pos.numpy(), rows_big, p2s, cell.numpy(), 8)
    assert p2s_m == p2s and s2m[:8] == list(range(8)) and s2m[8:16] == list(range(8))
    assert np.allclose(fpos, pos.numpy())
    assert np.abs(folded - rows_small).max() < 1e-10 * max(1.0, np.abs(rows_small).max())
    assert np.abs(rows_small).max() > 0.1  # not a vacuous comparison


def test_fold_dims_smallest_cell_with_enough_atoms() -> None:
    cubic = np.eye(3) * 5.6
    assert fold_dims((2, 2, 2), 8, cubic, 8) == (1, 1, 1)  # NaCl conventional
    assert fold_dims((2, 2, 2), 2, cubic, 8) in {(1, 2, 2), (2, 1, 2), (2, 2, 1)}
    assert fold_dims((2, 2, 2), 2, cubic, 100) == (2, 2, 2)  # nothing smaller qualifies
    hexa = np.array([[3.0, 0, 0], [-1.5, 2.6, 0], [0, 0, 3.5]])
    assert fold_dims((3, 3, 2), 3, hexa, 8) in {(3, 1, 1), (1, 3, 1)}
