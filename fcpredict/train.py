"""Training: energies, forces and force constants of phonopy folders -> an energy model.

One code path for one process and torchrun (gloo/nccl): every rank draws its own structures
from a generator seeded by (seed, rank, step), gradients are all-reduced by hand (double
backward through the Hessian rows is not a DDP hook path), so replicas stay identical and
``--resume`` repeats the uninterrupted run exactly. AdamW, warm-up + cosine LR, EMA weights,
gradient clipping, adaptive loss combination (losses.py), optional rotation augmentation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from e3nn import o3

from fcpredict.config import Config
from fcpredict.data import Sample, find_phonopy_folders, load_folders
from fcpredict.graph import Graph, batch_graphs
from fcpredict.hessian import energy_and_forces, hessian_rows
from fcpredict.losses import (
    dynamical_matrices,
    eigen_loss,
    eigen_reference,
    phases,
    relative_frobenius,
)
from fcpredict.model import build_model

__all__ = ["fit", "TorchSample", "prepare", "split_folders", "load_model", "evaluate_model"]

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
    """Build the graph and (for equilibrium samples) the eigen-loss references."""
    t = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
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
    return TorchSample(
        ts.name, graph, ts.energy, None if ts.forces is None else ts.forces @ rot.T, fc, ts.p2s, eig
    )


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
        terms["fc"] = relative_frobenius(rows, ts.fc[idx])
        if k == n_p and ts.eig is not None and tc.w_eigen > 0:
            d = dynamical_matrices(rows, *ts.eig[:3])
            terms["eigen"] = eigen_loss(d, ts.eig[3], ts.eig[4])
    return terms


def split_folders(cfg: Config) -> tuple[list[Path], list[Path]]:
    """Deterministic train/validation split of the phonopy folders (by folder)."""
    folders = [
        f for f in find_phonopy_folders(list(cfg.data.dirs)) if f.name not in set(cfg.data.exclude)
    ]
    if not folders:
        raise ValueError("no training folders left (check data.dirs and data.exclude)")
    order = np.random.default_rng(cfg.seed).permutation(len(folders))
    n_val = 0
    if len(folders) >= 2 and cfg.data.val_fraction > 0:  # 0 = train on all (validate on train)
        n_val = max(1, round(cfg.data.val_fraction * len(folders)))
    val = [folders[i] for i in sorted(order[:n_val])]
    return [folders[i] for i in sorted(order[n_val:])], val


def load_model(
    ckpt: dict[str, Any], device: torch.device | str = "cpu", use_ema: bool = True
) -> tuple[torch.nn.Module, Config]:
    """Rebuild the model of a checkpoint (EMA weights when stored) in eval mode."""
    from common.config import from_dict

    cfg = from_dict(Config, ckpt["config"], source="checkpoint")
    model = build_model(cfg.model)
    state = ckpt["model"]
    if use_ema and ckpt.get("ema"):
        state = {k.removeprefix("module."): v for k, v in ckpt["ema"].items() if k != "n_averaged"}
    model.load_state_dict(state)
    dtype = torch.float64 if cfg.train.dtype == "float64" else torch.float32
    return model.to(device, dtype).eval(), cfg


def evaluate_model(model: torch.nn.Module, samples: list[TorchSample]) -> dict[str, float]:
    """Validation metrics: relative Frobenius error and MAE of Phi, force MAE."""
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


def fit(
    cfg: Config, run_dir: str | Path, device: str = "auto", resume: bool = False
) -> dict[str, float]:
    """Train ``cfg`` into ``run_dir`` (see module docstring); returns the final metrics."""
    from fcpredict.train_loop import run_training

    return run_training(cfg, Path(run_dir), device, resume)


def load_samples(
    folders: list[Path], cfg: Config, dtype: torch.dtype, device: torch.device
) -> list[TorchSample]:
    """All samples of ``folders`` as TorchSamples."""
    groups = load_folders(folders, cfg.data.max_displacements)
    return [prepare(s, cfg.model.cutoff, dtype, device) for g in groups.values() for s in g]
