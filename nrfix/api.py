"""Library facade the CLI calls: constraint summaries, patch-wise correction, data sets."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nrfix import __version__
from nrfix.constraints import constraints

CHI_EXCISION = 0.05


def constraint_fields(vars25: np.ndarray, dx: float) -> dict[str, np.ndarray]:
    """Ham (X-4, Y-4, Z-4), |Mom| and chi on the interior of a (25, X, Y, Z) grid, as numpy."""
    with torch.no_grad():
        r = constraints(torch.from_numpy(np.ascontiguousarray(vars25))[None], dx)
    return {
        "Ham": r["Ham"][0].numpy(),
        "Mom": r["Mom"][0].norm(dim=0).numpy(),
        "Ham_abs": r["Ham_abs"][0].numpy(),
        "chi": r["chi"][0].numpy(),
    }


def summarize(
    vars25: np.ndarray, dx: float, chi_excision: float = CHI_EXCISION
) -> dict[str, float]:
    """Volume-weighted norms outside the excision (chi >= threshold): RMS and median |Ham|, ||Mom||,
    and the scale-free ||Ham||_2 / ||Ham_abs||_2.
    """
    f = constraint_fields(vars25, dx)
    w = f["chi"] >= chi_excision
    ham, mom = np.abs(f["Ham"][w]), f["Mom"][w]
    return {
        "ham_rms": float(np.sqrt(np.mean(ham**2))),
        "ham_median": float(np.median(ham)),
        "mom_rms": float(np.sqrt(np.mean(mom**2))),
        "mom_median": float(np.median(mom)),
        "ham_rel": float(np.linalg.norm(ham) / max(np.linalg.norm(f["Ham_abs"][w]), 1e-300)),
        "cells": int(w.sum()),
    }


def _starts(n: int, core: int) -> list[int]:
    return list(range(0, n, core)) if n > core else [0]


@torch.no_grad()
def correct_grid(
    model: torch.nn.Module,
    vars25: np.ndarray,
    patch: int,
    halo: int,
    device: str | torch.device = "cpu",
    dx: float | None = None,
) -> np.ndarray:
    """Apply the network patch by patch: each core of ``patch``^3 cells is predicted from the
    core plus ``halo`` cells on every side (clipped at the domain), so grids of any size work.

    A model with a global output step (``poisson``) gets its raw residual patch by patch and
    the output step once on the whole grid; ``dx`` is needed by ``model.source_prior``.
    """
    x = torch.from_numpy(np.ascontiguousarray(vars25))
    if getattr(model, "global_operator", False):
        r = _patched(model.residual, x, patch, halo, device)
        return model.assemble(x[None].to(device), r[None].to(device), dx)[0].cpu().numpy()
    return _patched(model, x, patch, halo, device).numpy()


def _patched(
    fn: Any, x: torch.Tensor, patch: int, halo: int, device: str | torch.device
) -> torch.Tensor:
    """Fn applied to (1, 25, ...) patches of x (25, X, Y, Z) with halos; cores stitched."""
    out = torch.empty_like(x)
    dims = x.shape[1:]
    for sx in _starts(dims[0], patch):
        for sy in _starts(dims[1], patch):
            for sz in _starts(dims[2], patch):
                core = [(s, min(s + patch, n)) for s, n in zip((sx, sy, sz), dims)]
                lo = [max(a - halo, 0) for a, _ in core]
                hi = [min(b + halo, n) for (_, b), n in zip(core, dims)]
                inp = x[:, lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]][None].to(device)
                y = fn(inp)[0].cpu()
                sl = [slice(a - lo_, b - lo_) for (a, b), lo_ in zip(core, lo)]
                out[
                    :, core[0][0] : core[0][1], core[1][0] : core[1][1], core[2][0] : core[2][1]
                ] = y[:, sl[0], sl[1], sl[2]]
    return out


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """(fn(*args, **kwargs), wall seconds)."""
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - t0


def provenance(command: str, **details: Any) -> dict[str, Any]:
    """Provenance dict for output files (tool, version, time, command, details)."""
    from common.hdf5 import provenance as base

    return base("nrfix", __version__, command=command, **details)


def write_dataset(cfg: Any, out_dir: str | Path) -> list[Path]:
    """Generate the train/val/test splits of ``cfg.data`` into ``out_dir/<split>_NNN.h5``."""
    from common.config import to_dict
    from nrfix.data import make_split
    from nrfix.formats import write_hdf5

    paths = []
    for split in ("train", "val", "test"):
        for i, grid in enumerate(make_split(cfg.data, split)):
            prov = provenance("make-data", split=split, config=to_dict(cfg))
            paths.append(write_hdf5(Path(out_dir) / f"{split}_{i:03d}.h5", grid, prov))
    return paths
