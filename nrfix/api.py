"""The nrfix library facade: what a notebook user imports and what ``nrfix.cli`` calls.

Configs and data (:func:`make_config`, :func:`write_dataset`, :func:`read_grid`), training
(:func:`train`, :func:`load_model`), correction (:func:`correct_grid`), measurement
(:func:`summarize`, :func:`constraint_fields`, :func:`evaluate_files`), the classical
baseline (:func:`solve_file`) and figures (:func:`plot_hist`). Every problem a user can cause
raises ``common.errors.UserError`` (one line naming the file or key), never a Click error.

Example
-------
>>> from nrfix import api
>>> cfg = api.make_config("tiny")
>>> api.train(cfg, "runs/tiny")                      # doctest: +SKIP
>>> model, cfg = api.load_model("runs/tiny/checkpoints/best.pt")  # doctest: +SKIP
>>> grid = api.read_grid("data.h5")                  # doctest: +SKIP
>>> fixed = api.correct_grid(model, grid.vars, 32, 8, dx=grid.dx)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from common.errors import UserError
from nrfix.apply import correct_grid, provenance, read_grid, timed, writing
from nrfix.constraints import constraints

if TYPE_CHECKING:
    from nrfix.config import Config
    from nrfix.formats import GridData
    from nrfix.model import NRFixNet

__all__ = [
    "CHI_EXCISION",
    "constraint_fields",
    "correct_file",
    "correct_grid",
    "correct_vars",
    "evaluate_files",
    "load_model",
    "make_config",
    "measure_correction",
    "plot_hist",
    "provenance",
    "read_grid",
    "solve_file",
    "summarize",
    "timed",
    "train",
    "write_dataset",
    "writing",
]

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
    vars25: np.ndarray,
    dx: float,
    chi_excision: float = CHI_EXCISION,
    reference: np.ndarray | None = None,
) -> dict[str, Any]:
    """Constraint norms of ``vars25`` on the cells of ``reference`` (the input of a
    correction; default ``vars25`` itself): interior cells with chi_reference >= threshold.

    Median, RMS and max of |Ham| and ||Mom||, ``ham_rel`` = ||Ham||_2 / ||Ham_abs||_2,
    ``mom_rel`` likewise, ADM mass and momentum surface integrals, ``cells``
    (:func:`nrfix.measure.stats`). Before and after a correction, pass the input as
    ``reference`` for both, or use :func:`measure_correction`.
    """
    from nrfix.measure import cell_mask, stats

    ref = vars25 if reference is None else reference
    if ref.shape != vars25.shape:
        raise ValueError(f"reference grid {ref.shape} differs from {vars25.shape}")
    return stats(vars25, dx, cell_mask(ref, chi_excision))


def correct_file(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Correct a file, refusing a worse result (:func:`nrfix.correct.correct_file`)."""
    from nrfix.correct import correct_file as run

    return run(*args, **kwargs)


def correct_vars(*args: Any, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """Correct (25, X, Y, Z) data by a method (:func:`nrfix.correct.correct_vars`)."""
    from nrfix.correct import correct_vars as run

    return run(*args, **kwargs)


def measure_correction(
    before: np.ndarray, after: np.ndarray, dx: float, chi_excision: float = CHI_EXCISION
) -> dict[str, Any]:
    """Before/after norms on the input's cells, ratios, ADM changes and ``worse``: what got
    worse than the input by more than 5% (:func:`nrfix.measure.compare`, ``worse``).
    """
    from nrfix.measure import compare, worse

    cmp = compare(before, after, dx, chi_excision)
    cmp["worse"] = worse(cmp)
    return cmp


def write_dataset(cfg: Any, out_dir: str | Path) -> list[Path]:
    """Generate the train/val/test splits of ``cfg.data`` into ``out_dir/<split>_NNN.h5``."""
    from common.config import to_dict
    from nrfix.data import make_split
    from nrfix.formats import write_hdf5

    paths = []
    for split in ("train", "val", "test"):
        for i, grid in enumerate(make_split(cfg.data, split)):
            prov = provenance("make-data", split=split, config=to_dict(cfg))
            with writing(out_dir):
                paths.append(write_hdf5(Path(out_dir) / f"{split}_{i:03d}.h5", grid, prov))
    return paths


# --------------------------------------------------------------------------- facade
def make_config(
    preset: str | None = None,
    *,
    config_file: str | Path | None = None,
    sets: tuple[str, ...] | list[str] = (),
    overrides: dict[str, Any] | None = None,
) -> Config:
    """Resolve a run configuration: defaults < preset < file < overrides < ``sets``.

    Parameters
    ----------
    preset
        A name in ``nrfix/presets`` (tiny, cpu, default) or a YAML path.
    config_file
        YAML file of config values.
    sets
        ``"section.key=value"`` items (win over everything).
    overrides
        Dotted keys to values; None values are ignored (unset CLI options).

    Returns
    -------
    Config
        The validated configuration (a :class:`common.config.ConfigError` names a bad key).
    """
    from common.config import load_config
    from nrfix.config import PRESETS_DIR, Config

    return load_config(
        Config,
        preset=preset,
        presets_dir=PRESETS_DIR,
        config_file=config_file,
        overrides=overrides,
        sets=tuple(sets),
    )


def train(
    cfg: Config,
    run_dir: str | Path,
    *,
    device: str = "auto",
    resume: bool = False,
    allow_config_change: bool = False,
    data_dir: str | Path | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train the correction network; see :func:`nrfix.train.fit` (same arguments)."""
    from nrfix.train import fit

    return fit(
        cfg,
        run_dir,
        device=device,
        resume=resume,
        allow_config_change=allow_config_change,
        data_dir=data_dir,
        overwrite=overwrite,
    )


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[NRFixNet, Config]:
    """(network in eval mode, its config) from a checkpoint; see :func:`nrfix.train.load_model`."""
    from nrfix.train import load_model as _load

    return _load(path, device)


def _check_cells(grid: GridData, chi_excision: float, path: str | Path) -> None:
    """Refuse an excision threshold that leaves no interior cell to measure."""
    chi = grid.vars[0, 2:-2, 2:-2, 2:-2]
    if not (chi >= chi_excision).any():
        raise UserError(
            f"chi excision {chi_excision} removes every interior cell (max chi {chi.max():.3g})",
            path=path,
        )


def evaluate_files(
    paths: list[str | Path] | tuple[str | Path, ...],
    chi_excision: float = CHI_EXCISION,
    reference: str | Path | None = None,
    level: int | None = None,
) -> dict[str, dict[str, Any]]:
    """:func:`summarize` of every file on the same cells (all files are read and checked first).

    The cells are those of ``reference`` (chi_reference >= threshold), by default the first
    path when every grid has its shape (before/after a correction: the input's cells);
    grids of different shapes are each measured on their own cells.

    Returns
    -------
    dict
        Path (as given) -> constraint norms of that file.
    """
    grids = {str(p): read_grid(p, level) for p in paths}
    for p, g in grids.items():
        _check_cells(g, chi_excision, p)
    ref = read_grid(reference, level) if reference is not None else next(iter(grids.values()))
    if reference is not None:
        _check_cells(ref, chi_excision, reference)
        for p, g in grids.items():
            if g.vars.shape != ref.vars.shape:
                raise UserError(
                    f"grid {g.vars.shape[1:]} differs from the reference's {ref.vars.shape[1:]}",
                    path=p,
                )
    same = all(g.vars.shape == ref.vars.shape for g in grids.values())
    return {
        p: summarize(g.vars, g.dx, chi_excision, reference=ref.vars if same else None)
        for p, g in grids.items()
    }


def solve_file(
    in_path: str | Path,
    out_path: str | Path,
    chi_excision: float = CHI_EXCISION,
    tol: float = 1e-10,
    level: int | None = None,
) -> dict[str, Any]:
    """Classical baseline: Newton solve of the conformal-factor equation on IN, written to OUT.

    Returns
    -------
    dict
        ``report`` (Newton steps, wall time, ...), ``before`` and ``after`` norms. ``level``
    picks the refinement level of a GRChombo/AMReX input (as for every function here).

    Raises
    ------
    common.errors.UserError
        Unreadable input, or data that are not conformally flat (the solve assumes h = delta).
    """
    from dataclasses import asdict

    from nrfix.elliptic import check_conformally_flat, solve_conformal_factor
    from nrfix.formats import GridData, write_hdf5

    grid = read_grid(in_path, level)
    _check_cells(grid, chi_excision, in_path)
    problem = check_conformally_flat(grid.vars)
    if problem:
        raise UserError(problem, path=in_path)
    vars_out, rep = solve_conformal_factor(grid.vars, grid.dx, chi_excision, tol)
    before = summarize(grid.vars, grid.dx, chi_excision)
    after = summarize(vars_out, grid.dx, chi_excision, reference=grid.vars)
    prov = provenance("solve", input=str(in_path), report=asdict(rep), before=before, after=after)
    with writing(out_path):
        write_hdf5(out_path, GridData(vars_out, grid.dx, grid.origin, {}, grid.attrs), prov)
    return {"report": asdict(rep), "before": before, "after": after}


def plot_hist(
    before: str | Path,
    after: list[str | Path] | tuple[str | Path, ...],
    out_dir: str | Path,
    chi_excision: float = CHI_EXCISION,
    level: int | None = None,
) -> list[Path]:
    """Histograms, z-slice heatmaps and the trade-off plot of BEFORE vs each AFTER file.

    Returns
    -------
    list of Path
        ``hist.png``, ``slices.png``, ``tradeoff.png`` in ``out_dir`` (written only after
        every input was read and checked).
    """
    from nrfix import plots

    grids = {Path(p).stem: (p, read_grid(p, level)) for p in (before, *after)}
    x0 = grids[Path(before).stem][1].vars
    for p, g in grids.values():
        if g.vars.shape != x0.shape:
            raise UserError(f"grid {g.vars.shape[1:]} differs from {x0.shape[1:]}", path=p)
        _check_cells(g, chi_excision, p)
    fields = {k: constraint_fields(g.vars, g.dx) for k, (_, g) in grids.items()}
    points = {}
    for k, (_, g) in grids.items():
        w = fields[k]["chi"] >= chi_excision
        points[k] = (
            float(np.sqrt(((g.vars[:14] - x0[:14]) ** 2).mean())),
            float(np.sqrt((fields[k]["Ham"][w] ** 2).mean())),
        )
    out = Path(out_dir)
    with writing(out):
        return [
            plots.plot_histograms(fields, out / "hist.png", chi_excision),
            plots.plot_slices(fields, out / "slices.png"),
            plots.plot_tradeoff(points, out / "tradeoff.png"),
        ]
