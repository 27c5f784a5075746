"""Forces and force constants as exact derivatives of a learned energy.

    F_i^a        = -dE / dr_i^a                                     (eV/A)
    Phi_ij^{ab}  = d^2 E / dr_i^a dr_j^b = -dF_j^b / dr_i^a          (eV/A^2)

Array layout follows phonopy: full fc (N, N, 3, 3), compact fc (n_prim, N, 3, 3) holding the
rows of the primitive-cell atoms (``p2s_map``). A row block Phi_i.. is one vector-Jacobian
product of the force field, so only the rows that symmetry cannot supply are computed:

* ``primitive``: 3 n_prim rows; the rest follow from lattice translations (exact for any
  periodic model);
* ``independent``: 3 n_indep rows of the symmetry-inequivalent atoms; phonopy rotates them into
  the other rows (exact for an E(3)-equivariant model);
* ``full``: all 3N rows (any structure, no symmetry needed).

Rows come from a row-by-row autograd loop (default, fastest measured), ``torch.func.vmap``
over ``vjp(grad(E))``, or forward-over-reverse ``jvp(grad(E))``; all three are exact and
agree to round-off. Central finite differences of the forces are kept for checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from fcpredict.graph import Graph

__all__ = [
    "energy_and_forces",
    "hessian_rows",
    "full_hessian",
    "finite_difference_rows",
    "force_constants",
    "symmetrize_fc",
    "asr_error",
    "index_symmetry_error",
]


def energy_and_forces(
    model: torch.nn.Module, graph: Graph, create_graph: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """E (B,) eV and F = -dE/dr (N, 3) eV/A; ``create_graph`` keeps the graph for training."""
    pos = graph.positions.detach().requires_grad_(True)
    energy = model(graph, pos)
    (grad,) = torch.autograd.grad(energy.sum(), pos, create_graph=create_graph)
    return energy, -grad


def _row_vectors(atoms: Sequence[int], n_atoms: int, like: torch.Tensor) -> torch.Tensor:
    """Unit cotangents e_{a,alpha}, shape (3 len(atoms), N, 3)."""
    v = torch.zeros(3 * len(atoms), n_atoms, 3, dtype=like.dtype, device=like.device)
    for k, a in enumerate(atoms):
        for alpha in range(3):
            v[3 * k + alpha, a, alpha] = 1.0
    return v


def _rows_vmap(
    model: torch.nn.Module, graph: Graph, v: torch.Tensor, chunk: int | None
) -> torch.Tensor:
    from torch.func import grad, vjp, vmap

    def energy(p: torch.Tensor) -> torch.Tensor:
        return model(graph, p).sum()

    _, vjp_fn = vjp(grad(energy), graph.positions.detach())
    return vmap(lambda t: vjp_fn(t)[0], chunk_size=chunk)(v)


def _rows_loop(
    model: torch.nn.Module, graph: Graph, v: torch.Tensor, create_graph: bool
) -> torch.Tensor:
    pos = graph.positions.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(model(graph, pos).sum(), pos, create_graph=True)
    rows = []
    for k in range(v.shape[0]):
        (r,) = torch.autograd.grad(g, pos, v[k], retain_graph=True, create_graph=create_graph)
        rows.append(r)
    return torch.stack(rows)


def _rows_fwd(model: torch.nn.Module, graph: Graph, v: torch.Tensor) -> torch.Tensor:
    """Forward-over-reverse Hessian-vector products H v_k = jvp(grad E, v_k), one per row."""
    from torch.func import grad, jvp

    def energy(p: torch.Tensor) -> torch.Tensor:
        return model(graph, p).sum()

    pos = graph.positions.detach()
    return torch.stack([jvp(grad(energy), (pos,), (v[k],))[1] for k in range(v.shape[0])])


def hessian_rows(
    model: torch.nn.Module,
    graph: Graph,
    atoms: Sequence[int],
    method: str = "auto",
    chunk: int | None = None,
    create_graph: bool = False,
) -> torch.Tensor:
    """Phi[a, j, alpha, beta] for the atoms a in ``atoms``: shape (len(atoms), N, 3, 3).

    ``method``: 'loop' (one reverse-over-reverse autograd call per row, the forward and first
    backward shared), 'vmap' (torch.func vmap over the rows' vector-Jacobian products), 'fwd'
    (forward-over-reverse Hessian-vector products, one jvp per row) or 'auto' = 'loop', the
    fastest exact path measured for both the cpu-preset equiformer and SevenNet-0 on Si
    supercells (bench/fcpredict_timing.py -> results/fcpredict/hessian_timing.json).
    Training needs ``create_graph=True`` (loop).
    """
    n_atoms = graph.positions.shape[0]
    v = _row_vectors(atoms, n_atoms, graph.positions)
    if create_graph or method in ("loop", "auto"):
        rows = _rows_loop(model, graph, v, create_graph)
    elif method == "vmap":
        rows = _rows_vmap(model, graph, v, chunk)
    elif method == "fwd":
        rows = _rows_fwd(model, graph, v)
    else:
        raise ValueError(f"unknown Hessian method {method!r}")
    # rows[3a+alpha, j, beta] = d2E/dr_a^alpha dr_j^beta
    return rows.reshape(len(atoms), 3, n_atoms, 3).permute(0, 2, 1, 3).contiguous()


def full_hessian(model: torch.nn.Module, graph: Graph, method: str = "auto") -> torch.Tensor:
    """All 3N rows, (N, N, 3, 3); works for any structure (no symmetry used)."""
    return hessian_rows(model, graph, list(range(graph.positions.shape[0])), method)


@torch.no_grad()
def finite_difference_rows(
    model: torch.nn.Module, graph: Graph, atoms: Sequence[int], step_a: float = 1e-3
) -> torch.Tensor:
    """Central differences Phi[a, j] = -(F_j(r + h e_a) - F_j(r - h e_a)) / 2h, (len, N, 3, 3).

    The neighbour list is kept fixed; the smooth cutoff makes pairs that cross it negligible.
    """
    n = graph.positions.shape[0]
    out = torch.zeros(len(atoms), n, 3, 3, dtype=graph.positions.dtype)
    for k, a in enumerate(atoms):
        for alpha in range(3):
            f = []
            for sign in (1.0, -1.0):
                pos = graph.positions.detach().clone()
                pos[a, alpha] += sign * step_a
                with torch.enable_grad():
                    g = Graph(
                        pos,
                        graph.cells,
                        graph.numbers,
                        graph.batch,
                        graph.edge_index,
                        graph.shifts,
                        graph.num_graphs,
                    )
                    f.append(energy_and_forces(model, g)[1])
            out[k, :, alpha, :] = -(f[0] - f[1]).cpu() / (2 * step_a)
    return out


def force_constants(
    model: torch.nn.Module,
    graph: Graph,
    phonon: Any,
    mode: str = "primitive",
    compact: bool = True,
    method: str = "auto",
) -> np.ndarray:
    """Force constants of the supercell of a ``phonopy.Phonopy`` object (eV/A^2).

    ``graph`` is the supercell graph (atom order of ``phonon.supercell``). ``mode`` is
    'primitive', 'independent' or 'full' (see module docstring). Returns compact
    (n_prim, N, 3, 3) or full (N, N, 3, 3) float64.
    """
    from phonopy.harmonic.force_constants import (
        compact_fc_to_full_fc,
        distribute_force_constants,
        full_fc_to_compact_fc,
    )

    prim, sc, n = phonon.primitive, phonon.supercell, len(phonon.supercell)
    if mode == "primitive":
        fc_c = hessian_rows(model, graph, list(prim.p2s_map), method).detach().double()
        fc_c = fc_c.cpu().numpy()
        return fc_c if compact else compact_fc_to_full_fc(prim, fc_c)
    if mode == "full":
        fc = full_hessian(model, graph, method).detach().double().cpu().numpy()
    elif mode == "independent":
        sym = phonon.symmetry
        indep = np.array(sym.get_independent_atoms(), dtype="int64")
        fc = np.zeros((n, n, 3, 3), dtype="double", order="C")
        fc[indep] = hessian_rows(model, graph, list(indep), method).detach().double().cpu()
        lattice = np.array(sc.cell.T, dtype="double", order="C")
        distribute_force_constants(
            fc, indep, lattice, sym.symmetry_operations["rotations"], sym.atomic_permutations
        )
    else:
        raise ValueError(f"unknown mode {mode!r} (primitive|independent|full)")
    return full_fc_to_compact_fc(prim, fc) if compact else fc


def symmetrize_fc(fc: np.ndarray, index: bool = True, asr: bool = True) -> np.ndarray:
    """Orthogonal (Frobenius) projection of a full fc (N, N, 3, 3) onto index symmetry
    Phi_ij^ab = Phi_ji^ba and/or the acoustic sum rule sum_j Phi_ij^ab = 0, in closed form.

    With the 3N x 3N matrix M of Phi and P = I - (1/N) (1 1^T) (x) I_3 (projector that removes
    rigid translations), index symmetry is S = (M + M^T) / 2 and the projection onto both
    constraints is P S P (S -> P S P is idempotent, self-adjoint and keeps S symmetric):

        Phi_ij <- S_ij - (1/N) sum_k S_kj - (1/N) sum_k S_ik + (1/N^2) sum_kl S_kl

    which satisfies both constraints to round-off (no iteration). ASR alone: M P.
    """
    out = np.array(fc, dtype="double", copy=True)
    n = out.shape[0]
    if index:
        out = 0.5 * (out + out.transpose(1, 0, 3, 2))
        if asr:
            col = out.sum(axis=0, keepdims=True) / n  # (1, N, 3, 3): (1/N) sum_k S_kj
            row = out.sum(axis=1, keepdims=True) / n  # (N, 1, 3, 3): (1/N) sum_k S_ik
            out = out - col - row + out.sum(axis=(0, 1), keepdims=True) / n**2
    elif asr:
        out -= out.sum(axis=1, keepdims=True) / n
    return out


def asr_error(fc: np.ndarray) -> float:
    """max_i,a,b |sum_j Phi_ij^ab| (eV/A^2) for full (N,N,3,3) or compact (n,N,3,3) fc."""
    return float(np.abs(np.asarray(fc).sum(axis=1)).max())


def index_symmetry_error(fc_full: np.ndarray) -> float:
    """Max |Phi_ij^ab - Phi_ji^ba| (eV/A^2) of a full fc."""
    fc_full = np.asarray(fc_full)
    return float(np.abs(fc_full - fc_full.transpose(1, 0, 3, 2)).max())
