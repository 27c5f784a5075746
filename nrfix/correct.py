"""``nrfix correct``: correct a file, measure before/after on the input's cells, refuse harm.

Two methods:

- ``newton``: the residual-driven prior alone (:func:`nrfix.newton.newton_correct`), no
  checkpoint: guarded Newton steps on the conformal factor and CTT momentum steps.
- ``learned``: a trained checkpoint (:func:`nrfix.apply.correct_grid`).

Before and after are measured on the same cells (the input's, :mod:`nrfix.measure`). If the
median or RMS of |Ham| or ||Mom|| is more than 5% worse than the input, nothing is written
(unless ``force``) and a :class:`common.errors.UserError` says what got worse and by how much.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from common.errors import UserError
from nrfix.measure import CHI_EXCISION, compare, worse

METHODS = ("newton", "learned")


def correct_vars(
    vars25: np.ndarray,
    dx: float,
    method: str = "newton",
    checkpoint: str | Path | None = None,
    options: dict[str, Any] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Corrected (25, X, Y, Z) data and details (method, report or checkpoint config).

    ``options``: newton: ``iterations``, ``momentum``, ``chi_excision``; learned: ``patch``,
    ``halo``, ``device``.
    """
    opts = dict(options or {})
    if method == "newton":
        from dataclasses import asdict

        from nrfix.newton import newton_correct

        keys = ("iterations", "momentum", "chi_excision")
        out, rep = newton_correct(vars25, dx, **{k: opts[k] for k in keys if k in opts})
        return out, {"method": "newton", "report": asdict(rep)}
    if method == "learned":
        if checkpoint is None:
            raise UserError("--method learned needs --checkpoint (a trained best.pt/last.pt)")
        from common.config import to_dict
        from nrfix.apply import correct_grid
        from nrfix.train import load_model

        device = opts.get("device", "cpu")
        model, cfg = load_model(checkpoint, device)
        patch, halo = opts.get("patch", 32), opts.get("halo", 8)
        details: dict[str, Any] = {"method": "learned", "checkpoint": str(checkpoint)}
        reference = vars25
        if cfg.model.on_prior:  # the network corrects the prior's output where it holds
            from dataclasses import asdict

            from nrfix.newton import newton_correct

            its = opts.get("iterations", cfg.model.prior_iterations)
            vars25, rep = newton_correct(vars25, dx, iterations=its)
            details["prior_report"] = asdict(rep)
        out = correct_grid(model, vars25, patch, halo, device, dx=dx, reference=reference)
        return out, {**details, "config": to_dict(cfg)}
    raise UserError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")


def correct_file(
    in_path: str | Path,
    out_path: str | Path,
    method: str = "newton",
    checkpoint: str | Path | None = None,
    force: bool = False,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Correct IN, measure on IN's cells, write OUT unless the result is worse (or ``force``).

    ``options`` as in :func:`correct_vars`, plus ``format`` (nrfix | grchombo),
    ``chi_excision`` and ``level`` (refinement level of a GRChombo/AMReX input). Returns the
    measurement (:func:`nrfix.measure.compare`) with ``worse`` and ``written``.

    Raises
    ------
    common.errors.UserError
        Unreadable input, a missing checkpoint, or (without ``force``) a result more than 5%
        worse than the input; the message lists what got worse and by how much.
    """
    from nrfix.apply import provenance, read_grid, writing
    from nrfix.formats import GridData, write_chombo, write_hdf5

    opts = dict(options or {})
    chi_excision = opts.get("chi_excision", CHI_EXCISION)
    grid = read_grid(in_path, opts.get("level"))
    if not (grid.vars[0, 2:-2, 2:-2, 2:-2] >= chi_excision).any():
        raise UserError(f"chi excision {chi_excision} removes every interior cell", path=in_path)
    vars_out, details = correct_vars(grid.vars, grid.dx, method, checkpoint, opts)
    cmp = compare(grid.vars, vars_out, grid.dx, chi_excision)
    cmp["worse"] = worse(cmp)
    cmp["steps_used"] = steps_used(details)
    if cmp["worse"] and not force:
        raise UserError(
            f"not written: {method} made the data worse than the input: "
            + "; ".join(cmp["worse"])
            + (" [" + " | ".join(cmp["steps_used"]) + "]" if cmp["steps_used"] else "")
            + " (--force writes it anyway)",
            path=in_path,
        )
    prov = provenance("correct", input=str(in_path), force=force, measurement=cmp, **details)
    attrs = {**grid.attrs, "corrected_from": str(in_path)}
    writer = write_chombo if opts.get("format", "nrfix") == "grchombo" else write_hdf5
    with writing(out_path):
        writer(out_path, GridData(vars_out, grid.dx, grid.origin, {}, attrs), prov)
    cmp["written"] = str(out_path)
    return cmp


def steps_used(details: dict[str, Any]) -> list[str]:
    """The Newton prior's step ladder, one line per step where the coupled step was not used
    as it came (which step was used and why); empty otherwise.
    """
    rep = details.get("report") or details.get("prior_report") or {}
    return list(rep.get("ladder", []))


def summary_line(cmp: dict[str, Any]) -> str:
    """One line: median/RMS |Ham| and ||Mom|| before -> after (input's cells), ADM mass change."""
    b, a = cmp["before"], cmp["after"]
    parts = [
        f"{label} {b[k]:.3e} -> {a[k]:.3e}"
        for k, label in (
            ("ham_median", "median |Ham|"),
            ("ham_rms", "RMS |Ham|"),
            ("mom_median", "median ||Mom||"),
            ("mom_rms", "RMS ||Mom||"),
        )
    ]
    parts.append(f"ADM mass change {cmp['adm_mass_change']:+.2e}")
    return "; ".join(parts) + " (input's cells)"
