"""ionofield nowcast bench: fit the real CODE GIM of 2020-01-08 (weighted by its RMS maps),
score the fitted field against the ESA GIM of the same day (a different product: a fit to
CODE cannot be scored on withheld CODE cells, which a smooth expansion reproduces anyway).

Rows: ionofield (mean +- sd over 3 seeds), CODE itself, IRI + plasmasphere, IRI (80-1000
km); VTEC RMSE against ESA on the 12 maps 00..22 UT of the day (and on all 13 common epochs,
including 24 UT). Second table: the in-sample fit to CODE against CODE's own RMS maps (fit
RMSE vs the root mean square of the RMS map, the residual in units of the RMS map, and the
share of cells within 1 and 2 RMS).
Writes results/ionofield/nowcast_code_esa.json.

    OMP_NUM_THREADS=1 .venv/bin/python bench/ionofield_nowcast.py [--steps 2000]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from common.results import Table, mean_sd, write_result
from ionofield import nowcast as nc
from ionofield.config import IRIConfig
from ionofield.gimfit import prior_vtec
from ionofield.iri import IRIBackground
from ionofield.operators import column_vtec

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ionofield"


def scores(maps: np.ndarray, epochs: list, esa) -> tuple[float, float]:
    """(RMSE vs ESA on the day's maps 00..22 UT, RMSE on every common epoch) [TECU]."""
    day = epochs[0].date()
    same_day = [e for e in esa.epochs if e.date() == day]
    sub = replace(esa, epochs=same_day, tec_tecu=esa.tec_tecu[: len(same_day)])
    return nc.compare(maps, epochs, sub)["rmse_tecu"], nc.compare(maps, epochs, esa)["rmse_tecu"]


FIT_KEYS = ("rmse_tecu", "rms_of_gim_rms_tecu", "normalised_rms", "within_rms", "within_2rms")


def fit_row(name: str, fits: list[dict]) -> list[str]:
    """One row of the in-sample table (mean +- sd over the fits given)."""
    row = [name]
    for k in FIT_KEYS:
        scale = 100.0 if k.startswith("within") else 1.0
        m, s = mean_sd([f[k] * scale for f in fits])
        unit = "%" if scale != 1.0 else ""
        row.append(f"{m:.2f}{unit}" if len(fits) == 1 else f"{m:.2f} +- {s:.2f}{unit}")
    return row


def iri_rows(code, esa, cfg: IRIConfig) -> tuple[list[list[str]], list[list[str]]]:
    cols = nc.map_columns(code, IRIBackground(cfg), drop_seam=False)
    shape = code.tec_tecu.shape
    with torch.no_grad():
        bare = column_vtec(cols.iri.double(), cols.alt.double()).numpy().reshape(shape)
        full = prior_vtec(cols).numpy().reshape(shape)
    rows, fits = [], []
    for name, m in (("IRI + plasmasphere (no fit)", full), ("IRI 80-1000 km", bare)):
        a, b = scores(m, code.epochs, esa)
        fit = nc.gim_residuals(m.ravel(), code.tec_tecu.ravel(), code.rms_tecu.ravel())
        rows.append([name, f"{a:.3f}", f"{b:.3f}"])
        fits.append(fit_row(name, [fit]))
    return rows, fits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", default=str(DATA / "codg0080.20i.Z"))
    ap.add_argument("--other", default=str(DATA / "esag0080.20i.Z"))
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg, t0 = IRIConfig(), time.time()
    code, esa = nc.read_day(args.fit), nc.read_day(args.other)
    ns = nc.NowcastSettings()
    ns = replace(ns, fit=replace(ns.fit, steps=args.steps, eval_every=250))
    res: dict[str, list] = {"esa_day": [], "esa_all": [], "fit": []}
    for seed in args.seeds:
        net, rec = nc.fit_day(code, cfg, ns, seed)
        a, b = scores(nc.vtec_maps(net, code, cfg), code.epochs, esa)
        for k, v in zip(res, (a, b, rec["gim"])):
            res[k].append(v)
        print(f"seed {seed}: vs ESA {a:.3f} / {b:.3f}, fit {rec['gim']}", flush=True)
    ms = {k: mean_sd(res[k]) for k in ("esa_day", "esa_all")}
    fmt = lambda k: f"{ms[k][0]:.3f} +- {ms[k][1]:.3f}"  # noqa: E731
    code_day, code_all = scores(code.tec_tecu, code.epochs, esa)
    iri_esa, iri_fit = iri_rows(code, esa, cfg)
    rows = [["ionofield nowcast (fitted to CODE)", fmt("esa_day"), fmt("esa_all")],
            ["CODE GIM itself", f"{code_day:.3f}", f"{code_all:.3f}"], *iri_esa]  # fmt: skip
    fit_rows = [fit_row("ionofield nowcast (in-sample)", res["fit"]), *iri_fit]
    caption = (f"One-day nowcast of 2020-01-08 fitted to the CODE GIM (RMS-weighted, 25 hourly "
               f"maps), {args.steps} steps, seeds {args.seeds}")  # fmt: skip
    table = Table(
        "nowcast",
        ["field", "RMSE vs ESA, 00-22 UT [TECU]", "RMSE vs ESA, 13 epochs [TECU]"],
        rows,
        caption=caption + "; scored against the ESA GIM of the same day (another product).",
    )
    fit_table = Table(
        "fit",
        ["field", "fit RMSE vs CODE [TECU]", "RMS of CODE's RMS map [TECU]",
         "residual / RMS map (RMS)", "cells within 1 RMS", "cells within 2 RMS"],
        fit_rows,
        caption=caption + "; in-sample residual against CODE's own per-cell RMS maps.",
    )  # fmt: skip
    path = write_result(
        "ionofield",
        "nowcast_code_esa",
        tables=[table, fit_table],
        config={"fit": Path(args.fit).name, "other": Path(args.other).name, "settings": repr(ns)},
        seeds=args.seeds,
        title="ionofield nowcast: fitted to CODE 2020-01-08, scored against ESA",
        raw={**res, "mean_code_rms_tecu": float(np.nanmean(code.rms_tecu)),
             "seconds": time.time() - t0},
    )  # fmt: skip
    for r in rows:
        print(" | ".join(r))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
