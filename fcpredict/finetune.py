"""Phonon fine-tuning of a pretrained backbone (PFT-style, Koker et al. 2026).

The backbone's energy Hessian is supervised with DFT force constants through Hessian-vector
products; no Hessian is ever formed:

    v ~ N(0, 1) on the 3 n_prim coordinates of the primitive atoms (zero elsewhere)
    (H v)_j = sum_{a alpha} v_{a alpha} d2E / dr_a^alpha dr_j    (one double backward)
    (Phi v)_j = sum_{a alpha} v_{a alpha} Phi_ref[a, j, alpha, :]  (compact DFT fc rows)
    L_hess  = ||H v - Phi v||^2 / ||Phi v||^2                     (per material, relative)
    L_force = ||F(displaced) - F_DFT||^2 / ||F_DFT||^2            (co-training on the DFT
                                                                   forces of the displaced
                                                                   supercells)
    L = mean over sampled materials (w_h L_hess + w_f L_force) + l2sp ||theta - theta_0||^2

The Hessian term runs on the smallest commensurate cell with at least ``fold_min_atoms``
atoms, whose force constants are the exact image sum of the DFT supercell's
(:mod:`fcpredict.fold`; e.g. NaCl 64 -> 8 atoms): the same physics at the wave vectors of that
cell, several times cheaper per step. The force term uses the DFT's own displaced supercells,
one of them every ``force_every`` steps.

One probe v gives a stochastic estimate of the relative Frobenius error of the primitive rows
(E_v ||(H - Phi) v||^2 = ||H - Phi||_F^2 over those rows). The L2-SP term keeps the weights
near the pretrained ones (we have no upstream MPtrj data to co-train against forgetting).
Early stopping: the same estimate with fixed probes on held-out *validation* materials (never
the test material), evaluated before the first step too. A checkpoint is selected only when its
mean over the validation materials is below the best so far *and* no validation material is
worse than with the pretrained weights by more than ``val_guard`` (the "no material harmed"
rule applied where it can be checked); otherwise the pretrained weights are kept, so the saved
weights are never worse on any validation material than the pretrained ones. The checkpoint is
a normal fcpredict checkpoint (``model.kind`` = the backbone): ``fcpredict predict
--checkpoint`` reads it.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from fcpredict.backbone_names import Backbone
from fcpredict.graph import Graph

__all__ = ["FinetuneConfig", "Material", "load_material", "hvp_loss", "finetune"]


@dataclass(frozen=True)
class FinetuneConfig:
    """Settings of :func:`finetune` (small learning rate, few steps, early stopping)."""

    backbone: Backbone = "sevennet-0"
    """Pretrained backbone to fine-tune (:data:`fcpredict.backbones.BACKBONES`)."""
    steps: int = 30
    """Optimizer steps."""
    materials_per_step: int = 3
    """Training materials drawn per step."""
    probes: int = 1
    """Random Hessian-vector probes per material and step."""
    lr: float = 2e-4
    """Adam learning rate (cosine decay to 10 %)."""
    w_hessian: float = 1.0
    """Weight of the relative Hessian-vector loss."""
    w_forces: float = 0.2
    """Weight of the relative force loss on displaced supercells (0 = off)."""
    l2sp: float = 1e-3
    """Weight of ||theta - theta_pretrained||^2 (sum over parameters)."""
    trainable: Literal["all", "last", "radial"] = "all"
    """Fine-tune all parameters, only the last interaction block and the readout ('last'), or
    only the radial networks of the convolutions and the per-element scales ('radial')."""
    fold_min_atoms: int = 8
    """Hessian loss on the smallest commensurate cell with at least this many atoms (exact
    image sum of the DFT supercell's force constants, :mod:`fcpredict.fold`); 0 = supercell."""
    force_every: int = 3
    """Force co-training on one displaced supercell of one sampled material every this many
    steps (the DFT supercells are not folded, so this is the expensive term)."""
    eval_every: int = 5
    """Validation interval (steps)."""
    patience: int = 3
    """Stop after this many validations without improvement."""
    val_probes: int = 4
    """Fixed probes per validation material."""
    val_guard: float = 0.0
    """A checkpoint is selected only if no validation material's error exceeds its pretrained
    value by more than this fraction (0: none may be worse; inf: mean only)."""
    grad_clip: float = 1.0
    """Gradient-norm clip."""
    seed: int = 0
    """Random seed (probes, material order)."""

    def __post_init__(self) -> None:
        """Refuse out-of-range or non-finite settings (ValueError naming the field)."""
        from common.config import check_range

        for name in ("steps", "materials_per_step", "probes", "eval_every", "patience",
                     "force_every"):  # fmt: skip
            check_range(self, name, ge=1)
        check_range(self, "val_probes", ge=1)
        check_range(self, "val_guard", ge=0)
        check_range(self, "fold_min_atoms", ge=0)
        check_range(self, "lr", gt=0, le=1)
        for name in ("w_hessian", "w_forces", "l2sp"):
            check_range(self, name, ge=0, lt=math.inf)
        check_range(self, "grad_clip", gt=0, lt=math.inf)
        check_range(self, "seed", ge=0)


@dataclass
class Material:
    """One phonopy folder as tensors: equilibrium supercell, DFT rows, displaced forces."""

    name: str
    graph: Graph
    fc: torch.Tensor | None  # (n_prim, N, 3, 3) eV/A^2; None: forces only (snapshots)
    p2s: list[int]
    displaced: list[tuple[Graph, torch.Tensor]]  # (graph, DFT forces (N, 3) eV/A)


def _graph(
    positions: np.ndarray, cell: np.ndarray, numbers: Any, cutoff: float, dtype: torch.dtype
) -> Graph:
    from fcpredict.neighbours import crystal_graph

    t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype)  # noqa: E731
    return crystal_graph(t(positions), t(cell), torch.as_tensor(np.asarray(numbers)), cutoff)


def load_material(
    folder: str | Path, cutoff: float, dtype: torch.dtype = torch.float32, min_atoms: int = 0
) -> Material:
    """Read a phonopy folder (FORCE_SETS, FORCE_CONSTANTS or force_constants.hdf5).

    Parameters
    ----------
    folder : phonopy folder (``fcpredict.phonopy_io.load_phonopy`` conventions).
    cutoff : neighbour cutoff of the backbone (Angstrom).
    dtype : float dtype of the tensors.
    min_atoms : > 0: the Hessian target is folded onto the smallest commensurate cell with at
        least this many atoms (:mod:`fcpredict.fold`; exact, cheaper); 0: the DFT supercell.
        The displaced supercells (force co-training) are never folded.
    """
    from fcpredict.fold import fold_compact_fc, folded_cell_of
    from fcpredict.phonopy_io import load_phonopy

    ph = load_phonopy(folder)
    sc = ph.supercell
    fc, p2s = np.asarray(ph.force_constants), [int(i) for i in ph.primitive.p2s_map]
    if fc.shape[0] == fc.shape[1] and fc.shape[0] != len(p2s):
        fc = fc[p2s]
    folded = folded_cell_of(ph, min_atoms) if min_atoms > 0 else None
    if folded is None:
        graph = _graph(sc.positions, sc.cell, sc.numbers, cutoff, dtype)
    else:
        lattice, n_m = folded
        fc, pos, p2s, s2m = fold_compact_fc(sc.positions, fc, p2s, lattice, n_m)
        numbers = np.asarray(sc.numbers)[[s2m.index(k) for k in range(n_m)]]
        graph = _graph(pos, lattice, numbers, cutoff, dtype)
    displaced = []
    forces = _dataset_forces(ph)
    if forces is not None:
        for cell, f in zip(ph.supercells_with_displacements, forces):
            g = _graph(cell.positions, cell.cell, cell.numbers, cutoff, dtype)
            displaced.append((g, torch.as_tensor(np.asarray(f), dtype=dtype)))
    fc_t = torch.as_tensor(fc, dtype=dtype)
    return Material(Path(folder).name, graph, fc_t, p2s, displaced)


def _dataset_forces(ph: Any) -> np.ndarray | None:
    try:
        forces = ph.forces
    except (AttributeError, RuntimeError, KeyError, TypeError):
        return None
    return None if forces is None else np.asarray(forces)


def _probe(mat: Material, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(v (N, 3) on the primitive atoms, Phi_ref v (N, 3))."""
    n_p = len(mat.p2s)
    coeff = torch.randn(n_p, 3, generator=gen, dtype=mat.fc.dtype)
    v = torch.zeros_like(mat.graph.positions)
    v[mat.p2s] = coeff
    return v, torch.einsum("ax,ajxy->jy", coeff, mat.fc)


def hvp_loss(
    model: torch.nn.Module, mat: Material, v: torch.Tensor, ref: torch.Tensor, train: bool
) -> torch.Tensor:
    """||H v - Phi_ref v||^2 / ||Phi_ref v||^2 with H the model's energy Hessian."""
    pos = mat.graph.positions.detach().requires_grad_(True)
    with torch.enable_grad():
        energy = model(mat.graph, pos).sum()
        (grad,) = torch.autograd.grad(energy, pos, create_graph=True)
        (hv,) = torch.autograd.grad((grad * v).sum(), pos, create_graph=train)
    return (hv - ref).pow(2).sum() / ref.pow(2).sum().clamp_min(1e-12)


def force_loss(model: torch.nn.Module, graph: Graph, forces: torch.Tensor) -> torch.Tensor:
    """||F - F_DFT||^2 / ||F_DFT||^2 on one displaced supercell (training graph kept)."""
    from fcpredict.hessian import energy_and_forces

    _, f = energy_and_forces(model, graph, create_graph=True)
    return (f - forces).pow(2).sum() / forces.pow(2).sum().clamp_min(1e-12)


def validate(model: torch.nn.Module, mats: list[Material], probes: int, seed: int) -> float:
    """Mean over materials of the probe estimate of the relative squared Frobenius error."""
    out = validate_each(model, mats, probes, seed)
    return float(np.mean(out)) if out else math.nan


def validate_each(
    model: torch.nn.Module, mats: list[Material], probes: int, seed: int
) -> list[float]:
    """Probe estimate of the relative squared Frobenius error of each material (fixed probes)."""
    out = []
    for k, mat in enumerate(mats):
        gen = torch.Generator().manual_seed(10_000 + 97 * seed + k)
        num = den = 0.0
        for _ in range(probes):
            v, ref = _probe(mat, gen)
            num += float(hvp_loss(model, mat, v, ref, train=False)) * float(ref.pow(2).sum())
            den += float(ref.pow(2).sum())
        out.append(num / max(den, 1e-12))
    return out


def _trainable(model: torch.nn.Module, which: str) -> list[torch.nn.Parameter]:
    params = []
    for name, p in model.named_parameters():
        if which == "last":
            on = name.startswith(("net.4_", "net.reduce", "net.rescale"))
        elif which == "radial":
            on = "_convolution" in name or name == "net.rescale_atomic_energy.scale"
        else:
            on = True
        p.requires_grad_(on)
        if on:
            params.append(p)
    return params


def _step(state: dict[str, Any], cfg: FinetuneConfig, train: list[Material]) -> float:
    model, opt, gen = state["model"], state["opt"], state["gen"]
    idx = torch.randperm(len(train), generator=gen)[: cfg.materials_per_step].tolist()
    opt.zero_grad(set_to_none=True)
    total = 0.0
    for i in (i for i in idx if train[i].fc is not None and cfg.w_hessian > 0):
        mat, loss = train[i], 0.0
        for _ in range(cfg.probes):
            v, ref = _probe(mat, gen)
            loss = loss + cfg.w_hessian * hvp_loss(model, mat, v, ref, train=True) / cfg.probes
        loss = loss / len(idx)
        loss.backward()
        total += float(loss.detach())
    state["n"] = state.get("n", 0) + 1
    with_forces = [train[i] for i in idx if train[i].displaced]
    if cfg.w_forces > 0 and with_forces and state["n"] % cfg.force_every == 0:
        mat = with_forces[int(torch.randint(len(with_forces), (1,), generator=gen))]
        g, f = mat.displaced[int(torch.randint(len(mat.displaced), (1,), generator=gen))]
        loss = cfg.w_forces * force_loss(model, g, f)
        loss.backward()
        total += float(loss.detach())
    if cfg.l2sp > 0:
        reg = sum((p - p0).pow(2).sum() for p, p0 in zip(state["params"], state["theta0"]))
        (cfg.l2sp * reg).backward()
    torch.nn.utils.clip_grad_norm_(state["params"], cfg.grad_clip)
    opt.step()
    state["sched"].step()
    return total


def finetune(
    train: list[Material],
    val: list[Material],
    cfg: FinetuneConfig,
    out: str | Path | None = None,
    log: Any = None,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Fine-tune ``cfg.backbone`` on ``train``; early stopping on ``val`` (never the test set).

    Parameters
    ----------
    train, val : materials from :func:`load_material` (``val`` may be empty: no early stopping,
        the last weights are kept).
    cfg : settings.
    out : checkpoint path (written atomically; ``fcpredict predict --checkpoint`` reads it).
    log : callable(dict) for progress lines (optional).

    Returns
    -------
    tuple
        (model with the best validation weights, eval mode; history dict).
    """
    from common.schedule import warmup_cosine_scheduler
    from fcpredict.backbones import load_backbone

    torch.manual_seed(cfg.seed)
    dtype = train[0].graph.positions.dtype
    model = load_backbone(cfg.backbone, dtype=dtype).train()
    params = _trainable(model, cfg.trainable)
    opt = torch.optim.Adam(params, lr=cfg.lr)
    state = {
        "model": model,
        "opt": opt,
        "sched": warmup_cosine_scheduler(opt, cfg.steps, 0, 0.1),
        "gen": torch.Generator().manual_seed(cfg.seed),
        "params": params,
        "theta0": [p.detach().clone() for p in params],
    }
    t0 = time.process_time()
    each0 = validate_each(model, val, cfg.val_probes, cfg.seed) if val else []
    best = float(np.mean(each0)) if val else math.inf
    hist = {"val": [(0, best)], "val_each": [(0, each0)], "loss": [], "best_step": 0}
    best_state, bad = copy.deepcopy(model.state_dict()), 0
    for step in range(1, cfg.steps + 1):
        hist["loss"].append(_step(state, cfg, train))
        if val and (step % cfg.eval_every == 0 or step == cfg.steps):
            each = validate_each(model, val, cfg.val_probes, cfg.seed)
            score = float(np.mean(each))
            hist["val"].append((step, score))
            hist["val_each"].append((step, each))
            harmless = cfg.val_guard == math.inf or all(
                e <= (1 + cfg.val_guard) * e0 for e, e0 in zip(each, each0)
            )
            if score < best and harmless:
                best, bad, hist["best_step"] = score, 0, step
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad += 1
            if log:
                log({"step": step, "loss": hist["loss"][-1], "val": score, "best": best})
            if bad >= cfg.patience:
                break
    if not val:
        best_state, hist["best_step"] = copy.deepcopy(model.state_dict()), len(hist["loss"])
    model.load_state_dict(best_state)
    model.eval()
    hist["cpu_s"] = time.process_time() - t0
    if out is not None:
        save_finetuned(out, model, cfg, hist, dtype)
    return model, hist


def save_finetuned(
    path: str | Path, model: torch.nn.Module, cfg: FinetuneConfig, hist: dict, dtype: torch.dtype
) -> Path:
    """An fcpredict checkpoint (``model.kind`` = the backbone) that ``predict`` reads."""
    from common.checkpoint import save_checkpoint
    from common.config import to_dict
    from fcpredict.config import Config

    base = Config()
    full = dataclasses.replace(
        base,
        model=dataclasses.replace(base.model, kind=cfg.backbone),
        train=dataclasses.replace(
            base.train, dtype="float64" if dtype == torch.float64 else "float32"
        ),
        seed=cfg.seed,
    )
    extra = {"predictor": "model", "finetune": dataclasses.asdict(cfg), "history": hist}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(
        path, step=hist.get("best_step", 0), config=to_dict(full), model=model, extra=extra
    )


def material_folders(paths: list[str | Path]) -> list[Path]:
    """Phonopy folders named by ``paths`` (a folder with a phonopy yaml, or a parent of such)."""
    from common.errors import UserError

    names = ("phonopy_disp.yaml", "phonopy.yaml", "phonopy_params.yaml")
    out = []
    for p in map(Path, paths):
        if any((p / n).is_file() for n in names):
            out.append(p)
            continue
        subs = sorted(
            d for d in p.iterdir() if d.is_dir() and any((d / n).is_file() for n in names)
        )
        if not subs:
            raise UserError(f"{p}: no phonopy folder (phonopy_disp.yaml or phonopy.yaml) here")
        out.extend(subs)
    return out


def run_finetune(
    data: list[str | Path],
    val: list[str | Path],
    output: str | Path,
    cfg: FinetuneConfig,
    log: Any = None,
) -> dict[str, Any]:
    """Load the folders, fine-tune, write the checkpoint ``output``; returns the history.

    Parameters
    ----------
    data : training phonopy folders (or parents of them).
    val : validation folders for early stopping (empty: the last weights are kept).
    output : checkpoint path for ``fcpredict predict --checkpoint``.
    cfg : fine-tuning settings.
    log : callable(dict) for progress lines.
    """
    from common.errors import UserError

    train_f, val_f = material_folders(data), material_folders(val) if val else []
    overlap = {f.resolve() for f in train_f} & {f.resolve() for f in val_f}
    if overlap:
        raise UserError(f"--val: {sorted(map(str, overlap))[0]} is also a training folder")
    cutoff = 5.0  # every SevenNet checkpoint of fcpredict.backbones
    train = [load_material(f, cutoff, min_atoms=cfg.fold_min_atoms) for f in train_f]
    vals = [load_material(f, cutoff, min_atoms=cfg.fold_min_atoms) for f in val_f]
    _, hist = finetune(train, vals, cfg, out=output, log=log)
    return {"checkpoint": str(output), "best_step": hist["best_step"], "val": hist["val"],
            "cpu_s": round(hist["cpu_s"], 1)}  # fmt: skip
