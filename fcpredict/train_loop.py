"""What one training step and one validation compute (used by ``fcpredict.train.fit``).

A step draws ``batch_size`` structures from a generator seeded by (seed, rank, step), so a
resumed run repeats the uninterrupted one exactly. Per structure the available terms are

* energy and forces (displaced supercells, and equilibrium ones with a known energy);
* fc: relative Frobenius error of the Hessian rows of ``k`` randomly drawn primitive atoms
  (``train.fc_rows``, rounded up to whole atoms; 0 = all);
* eigen: the residual of the reference eigenpairs of D(q) at the commensurate q points,
  restricted to the same drawn rows. With V unitary, ||V^H D V - diag(lambda)||_F =
  ||D V - V diag(lambda)||_F, and the squared residual is a sum over row blocks, so
  (n_p / k) ||(D V - V diag(lambda))[rows]||^2 / ||lambda||^2 is an unbiased estimate of the
  full eigen loss (losses.eigen_loss) and equals it when every row is drawn. The eigen term
  therefore runs on every step that draws rows, not only when all rows happen to be drawn.

This module never imports ``fcpredict.train`` (no import cycle).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from e3nn import o3

from common.errors import UserError
from fcpredict.config import Config
from fcpredict.data import Sample, find_phonopy_folders, load_folders
from fcpredict.graph import Graph, batch_graphs
from fcpredict.hessian import energy_and_forces, hessian_rows
from fcpredict.losses import AdaptiveWeights, dynamical_matrices, eigen_reference, phases
from fcpredict.losses import relative_frobenius as rel_frob

__all__ = [
    "TERMS",
    "TorchSample",
    "prepare",
    "sample_terms",
    "eigen_rows_loss",
    "step_loss",
    "split_folders",
    "load_samples",
    "evaluate_model",
]

TERMS = ("energy", "forces", "fc", "eigen")


@dataclass
class TorchSample:
    """A Sample as tensors on the training device, with its graph and eigen references."""

    name: str
    graph: Graph
    energy: float
    forces: torch.Tensor | None
    fc: torch.Tensor | None
    p2s: list[int]
    eig: tuple[torch.Tensor, ...] | None  # phase, onehot, inv_sqrt_m, lambda, vectors


def prepare(s: Sample, cutoff: float, dtype: torch.dtype, device: torch.device) -> TorchSample:
    """Build the graph and (for equilibrium samples) the eigen-loss references.

    Parameters
    ----------
    s
        Sample in eV and Angstrom (``fcpredict.data``).
    cutoff
        Neighbour cutoff (Angstrom).
    dtype, device
        Where the tensors live.

    Returns
    -------
    TorchSample
        Tensors of the sample; ``eig`` holds (phase (Q, n_p, N), onehot (N, n_p),
        1/sqrt(m) (n_p,), lambda (Q, 3 n_p), V (Q, 3 n_p, 3 n_p)).
    """

    def t(a: Any) -> torch.Tensor:
        return torch.as_tensor(a, dtype=dtype, device=device)

    graph = batch_graphs([(t(s.positions), t(s.cell), torch.as_tensor(s.numbers))], cutoff)
    graph = graph.to(device)
    eig = None
    if s.fc is not None and s.qpoints_cart is not None:
        cdt = torch.complex128 if dtype == torch.float64 else torch.complex64
        phase = torch.as_tensor(
            phases(s.positions, s.p2s, s.qpoints_cart), dtype=cdt, device=device
        )
        onehot = torch.nn.functional.one_hot(torch.as_tensor(s.s2pp), len(s.p2s)).to(device)
        inv_m = t(1.0 / np.sqrt(s.masses[s.p2s]))
        d_ref = dynamical_matrices(t(s.fc), phase, onehot, inv_m)
        lam, vec = eigen_reference(d_ref)
        eig = (phase, onehot, inv_m, lam, vec)
    return TorchSample(
        name=s.name,
        graph=graph,
        energy=s.energy,
        forces=None if s.forces is None else t(s.forces),
        fc=None if s.fc is None else t(s.fc),
        p2s=[] if s.p2s is None else [int(p) for p in s.p2s],
        eig=eig,
    )


def _rotated(ts: TorchSample, rot: torch.Tensor) -> TorchSample:
    """The sample in a rotated frame (positions, cell, forces, fc rows, eigenvectors)."""
    g = ts.graph
    graph = Graph(
        g.positions @ rot.T,
        g.cells @ rot.T,
        g.numbers,
        g.batch,
        g.edge_index,
        g.shifts,
        g.num_graphs,
    )
    fc = None if ts.fc is None else torch.einsum("xi,anij,yj->anxy", rot, ts.fc, rot)
    eig = ts.eig
    if eig is not None:
        vec = eig[4]
        q, m, _ = vec.shape
        vec = torch.einsum("xi,qaim->qaxm", rot.to(vec.dtype), vec.reshape(q, -1, 3, m))
        eig = (eig[0], eig[1], eig[2], eig[3], vec.reshape(q, m, m))
    forces = None if ts.forces is None else ts.forces @ rot.T
    return TorchSample(ts.name, graph, ts.energy, forces, fc, ts.p2s, eig)


def eigen_rows_loss(
    rows: torch.Tensor, idx: list[int], eig: tuple[torch.Tensor, ...]
) -> torch.Tensor:
    """Eigen loss estimated from the Hessian rows of the primitive atoms ``idx``.

    Parameters
    ----------
    rows
        Predicted compact rows Phi[idx] (k, N, 3, 3) eV/A^2.
    idx
        Primitive-atom indices (0..n_p-1) of the rows.
    eig
        ``TorchSample.eig``: phase, onehot, 1/sqrt(m), lambda (Q, M), V (Q, M, M).

    Returns
    -------
    torch.Tensor
        (n_p / k) sum_q ||(D_q V_q - V_q diag(lambda_q))[rows]||^2 / ||lambda||^2
        (dimensionless; equals ``losses.eigen_loss`` when every row is given).
    """
    phase, onehot, inv_m, lam, vec = eig
    n_p, k = inv_m.shape[0], len(idx)
    sel = torch.as_tensor(idx, device=rows.device)
    d = torch.einsum(
        "qaj,ajxy,jb->qaxby", phase[:, sel], rows.to(phase.dtype), onehot.to(phase.dtype)
    )
    w = (inv_m[sel][:, None] * inv_m[None, :]).to(phase.dtype)
    d = (d * w[None, :, None, :, None]).reshape(-1, 3 * k, 3 * n_p)
    q, m, _ = vec.shape
    v_rows = vec.reshape(q, n_p, 3, m)[:, sel].reshape(q, 3 * k, m)
    resid = d @ vec - v_rows * lam.to(vec.dtype)[:, None, :]
    return (n_p / k) * resid.abs().pow(2).sum() / lam.pow(2).sum().clamp_min(1e-12)


def sample_terms(
    model: torch.nn.Module, ts: TorchSample, cfg: Config, gen: torch.Generator
) -> dict[str, torch.Tensor]:
    """Available loss terms of one sample (differentiable in the model parameters)."""
    tc = cfg.train
    if tc.rotate:
        ts = _rotated(ts, o3.rand_matrix(generator=gen).to(ts.graph.positions))
    terms: dict[str, torch.Tensor] = {}
    n_atoms = ts.graph.positions.shape[0]
    if ts.forces is not None or not math.isnan(ts.energy):
        energy, forces = energy_and_forces(model, ts.graph, create_graph=True)
        if not math.isnan(ts.energy):
            terms["energy"] = ((energy.sum() - ts.energy) / n_atoms) ** 2
        if ts.forces is not None:
            terms["forces"] = (forces - ts.forces).pow(2).mean()
    if ts.fc is not None:
        n_p = len(ts.p2s)
        k = n_p if tc.fc_rows <= 0 else min(n_p, math.ceil(tc.fc_rows / 3))
        idx = sorted(torch.randperm(n_p, generator=gen)[:k].tolist())
        rows = hessian_rows(model, ts.graph, [ts.p2s[i] for i in idx], create_graph=True)
        terms["fc"] = rel_frob(rows, ts.fc[idx])
        if ts.eig is not None and tc.w_eigen > 0:
            terms["eigen"] = eigen_rows_loss(rows, idx, ts.eig)
    return terms


def step_loss(
    model: torch.nn.Module,
    train: list[TorchSample],
    cfg: Config,
    weights: AdaptiveWeights,
    rank: int,
    step: int,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The combined loss of step ``step`` on rank ``rank`` and the rank-averaged term values."""
    from common.distributed import all_reduce_mean
    from common.seeding import generator_for

    gen = generator_for(cfg.seed, rank, step)
    idx = torch.randint(len(train), (cfg.train.batch_size,), generator=gen).tolist()
    sums: dict[str, Any] = {k: 0.0 for k in TERMS}
    counts = {k: 0 for k in TERMS}
    for i in idx:
        for k, v in sample_terms(model, train[i], cfg, gen).items():
            sums[k] = sums[k] + v
            counts[k] += 1
    terms = {k: sums[k] / counts[k] for k in TERMS if counts[k]}
    vals = all_reduce_mean({k: float(terms[k].detach()) if k in terms else -1.0 for k in TERMS})
    present = {k: v for k, v in vals.items() if v >= 0}
    weights.update(present)
    return weights.combine(terms), present


def split_folders(cfg: Config) -> tuple[list[Path], list[Path]]:
    """Deterministic train/validation split of the phonopy folders (by folder)."""
    if not cfg.data.dirs:
        raise UserError("no training data: give --data DIR (or data.dirs in the config)")
    folders = [
        f for f in find_phonopy_folders(list(cfg.data.dirs)) if f.name not in set(cfg.data.exclude)
    ]
    if not folders:
        raise UserError("no training folders left (check data.dirs and data.exclude)")
    order = np.random.default_rng(cfg.seed).permutation(len(folders))
    n_val = 0
    if len(folders) >= 2 and cfg.data.val_fraction > 0:  # 0 = train on all (validate on train)
        n_val = max(1, round(cfg.data.val_fraction * len(folders)))
    val = [folders[i] for i in sorted(order[:n_val])]
    return [folders[i] for i in sorted(order[n_val:])], val


def load_samples(
    folders: list[Path], cfg: Config, dtype: torch.dtype, device: torch.device
) -> list[TorchSample]:
    """All samples of ``folders`` as TorchSamples (the readers refuse non-finite data)."""
    groups = load_folders(folders, cfg.data.max_displacements)
    return [prepare(s, cfg.model.cutoff, dtype, device) for g in groups.values() for s in g]


def evaluate_model(model: torch.nn.Module, samples: list[TorchSample]) -> dict[str, float]:
    """Validation metrics: relative Frobenius error and MAE of Phi (all primitive rows),
    force MAE.
    """
    fc_err, fc_ref, fc_mae, f_mae = 0.0, 0.0, [], []
    for ts in samples:
        if ts.fc is not None:
            rows = hessian_rows(model, ts.graph, ts.p2s).detach()
            fc_err += float((rows - ts.fc).pow(2).sum())
            fc_ref += float(ts.fc.pow(2).sum())
            fc_mae.append(float((rows - ts.fc).abs().mean()))
        if ts.forces is not None:
            f_mae.append(float((energy_and_forces(model, ts.graph)[1] - ts.forces).abs().mean()))
    out = {}
    if fc_mae:
        out["fc_rel_frob"] = math.sqrt(fc_err / max(fc_ref, 1e-30))
        out["fc_mae"] = float(np.mean(fc_mae))
    if f_mae:
        out["force_mae"] = float(np.mean(f_mae))
    return out


def validation_score(metrics: dict[str, float]) -> float:
    """The number checkpoints are selected by: fc relative Frobenius, else force MAE."""
    return metrics.get("fc_rel_frob", metrics.get("force_mae", math.inf))
