"""Applying a trained network to a grid and the file plumbing every nrfix command shares:
patch-wise inference with halos, provenance, one-line read/write errors.

Kept apart from :mod:`nrfix.api` so that the correction module and the facade can both use
it without importing each other.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from common.errors import UserError
from nrfix import __version__

if TYPE_CHECKING:
    from nrfix.formats import GridData


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
    reference: np.ndarray | None = None,
) -> np.ndarray:
    """Apply the network patch by patch: each core of ``patch``^3 cells is predicted from the
    core plus ``halo`` cells on every side (clipped at the domain), so grids of any size work.

    A model with a global output step (``poisson``) gets its raw residual patch by patch and
    the output step once on the whole grid; ``dx`` is needed by ``model.source_prior``.
    The learned relaxation (:mod:`nrfix.relax`) runs once on the whole grid; ``reference``
    (the uncorrected input) is what it checks its result against.
    """
    x = torch.from_numpy(np.ascontiguousarray(vars25))
    if model.whole_grid:  # nonlocal steps (nrfix.relax): one call
        ref = None if reference is None else torch.from_numpy(reference)[None]
        return model(x[None].to(device), dx, ref)[0].cpu().numpy()
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


READ_ERRORS = (ValueError, TypeError, OSError, KeyError, IndexError, EOFError, MemoryError)
"""What a reader may raise on a damaged file besides its own one-line errors."""


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an ``OSError`` while writing ``path`` (permissions, full disk, a directory in the
    way) into a one-line :class:`~common.errors.UserError` naming it.
    """
    try:
        yield
    except OSError as exc:
        raise UserError(f"cannot write ({exc.strerror or exc})", path=path) from None


def read_grid(path: str | Path, level: int | None = None) -> GridData:
    """Read CCZ4 data (nrfix HDF5, GRChombo HDF5 or an AMReX plotfile directory).

    Parameters
    ----------
    path
        The file or plotfile directory.
    level
        Refinement level of a GRChombo/AMReX file (needed when it has several).

    Returns
    -------
    GridData
        ``vars`` (25, X, Y, Z) float64, finite, at least 5 cells per axis; ``dx`` > 0.

    Raises
    ------
    common.errors.UserError
        Missing, empty, truncated, foreign, non-finite or wrongly shaped data (one line).
    """
    from nrfix.formats import read_any

    try:
        return read_any(path, level)
    except READ_ERRORS as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise UserError(f"cannot read CCZ4 data ({first})", path=path) from None
