"""The real-data modes as library calls (the CLI's ``forecast``, ``nowcast``, ``ingest-ro``).

    from ionofield.modes import run_forecast, run_nowcast, ingest_ro
    run_forecast(["jplg0010.22i.gz", "jplg0020.22i.gz"], "jpl_0103.i")
    run_nowcast("codg0080.20i.Z", "runs/nowcast")
    ingest_ro(["ionPrf_....nc"], "ro.h5")

Everything runs offline: IRI from the pyiri coefficients, Kp/F10.7 from the packaged record.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ionofield.config import IRIConfig
from ionofield.errors import IonofieldError


def run_forecast(
    gims: Sequence[str | Path],
    out: str | Path,
    seeds: Sequence[int] = (0, 1, 2),
    steps: int | None = None,
    iri_cfg: IRIConfig | None = None,
) -> dict:
    """Fit on the GIMs of consecutive days <= D and write the day D+1 forecast.

    With one day there is no training pair: the forecast is the day-ahead prior scaled by
    day D's GIM / prior ratio (deterministic; see :mod:`ionofield.forecast`).

    The maps (IONEX, mean over ``seeds``) go to ``out``, a summary to ``out`` + ``.json``;
    returns the summary.
    """
    from common.io import atomic_write
    from ionofield import forecast as fc
    from ionofield.ionex import write_ionex

    data = fc.prepare(fc.read_days(gims), iri_cfg or IRIConfig())
    cands = fc.default_candidates()
    if steps is not None:
        cands = {k: replace(v, fit=replace(v.fit, steps=steps)) for k, v in cands.items()}
    res = fc.select_and_run(data, cands, seeds)
    maps = np.mean([p for p, _ in res["runs"][res["chosen"]]], axis=0)
    write_ionex(out, fc.to_ionex(maps, data), "ionofield day-ahead forecast")
    summary = {
        "target_day": str(data.target_day),
        "trained_on": [str(p) for p in gims],
        "chosen": res["chosen"],
        "validation_rmse_tecu": {k: v if np.isfinite(v) else None for k, v in res["val"].items()},
        "seeds": list(seeds)[: len(res["runs"][res["chosen"]])],
        "trained": bool(data.train.lat.size),
    }
    with atomic_write(Path(f"{out}.json")) as fh:
        json.dump(summary, fh, indent=1)
    return summary


def run_nowcast(
    gim: str | Path | None,
    out_dir: str | Path,
    seed: int = 0,
    steps: int | None = None,
    iri_cfg: IRIConfig | None = None,
    obs: str | Path | None = None,
) -> dict:
    """Fit one day's GIM (RMS-weighted) and optional observation-table points (profiles,
    in-situ; e.g. from ``ingest_ro``); write field.h5, vtec.i and residuals.json.
    """
    from ionofield import nowcast as nc

    cfg = iri_cfg or IRIConfig()
    ns = nc.NowcastSettings()
    if steps is not None:
        ns = replace(ns, fit=replace(ns.fit, steps=steps, eval_every=min(ns.fit.eval_every, steps)))
    from ionofield.data import read_observations

    table = read_observations(obs) if obs is not None else None
    if gim is None:
        if table is None:
            raise IonofieldError("nowcast needs a GIM file, an observation table (--obs), or both")
        net, rec, maps = nc.fit_points_only(table, cfg)
    else:
        maps = nc.read_day(gim)
        net, rec = nc.fit_day(maps, cfg, ns, seed, table)
    nc.write_outputs(out_dir, net, maps, cfg, rec)
    return {**rec.get("gim", {}), **{k: rec[k] for k in ("insitu", "profile") if k in rec}}


def ingest_ro(
    files: Sequence[str | Path], out: str | Path, iri_cfg: IRIConfig | None = None
) -> dict:
    """Turn COSMIC-2 ionPrf profiles of any date into an observation table (HDF5) with IRI."""
    from ionofield import ro

    table = ro.ingest(files, iri_cfg or IRIConfig())
    ro.write(out, table, files)
    errs = ro.profile_errors(table, table["log10_ne_iri"])
    return {"rows": int(table["lat"].size), "profiles": len(errs), "iri": errs}
