"""ionofield day-ahead forecast bench on real GIMs (default: JPL 2022-01-01..02 -> 01-03).

Columns: ionofield (mean +- sd over 3 seeds; the input set chosen on validation maps of the
training days), persistence (day D at the same UT), mean of the previous days at the same
UT, IRI (80-1000 km, its own-day F10.7), IRI + previous-day residual. VTEC RMSE [TECU] over
every cell of the target day's maps (00..22 UT). Writes results/ionofield/forecast_jpl.json;
the one-day pair (01-01 -> 01-02) goes to forecast_jpl_0102.json. With one training day
there is no training pair: the forecast is the day-ahead prior scaled by that day's GIM /
prior ratio, deterministic (one run, no seed spread).

    OMP_NUM_THREADS=1 .venv/bin/python bench/ionofield_forecast.py
    OMP_NUM_THREADS=1 .venv/bin/python bench/ionofield_forecast.py --train jplg0010.22i.gz \
        --truth jplg0020.22i.gz --bench forecast_jpl_0102
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from common.results import Table, mean_sd, write_result
from ionofield import forecast as fc
from ionofield.config import IRIConfig
from ionofield.iri import IRIBackground

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ionofield"


def iri_maps(d: fc.DayMaps, day, cfg: IRIConfig) -> np.ndarray:
    """IRI VTEC [TECU] (80-1000 km, own-day F10.7) on ``d``'s grid and UTs for ``day``."""
    lat, lon, t = fc._grid(d, day)
    bg = IRIBackground(cfg)
    cols = fc.build_columns(lat, lon, t, bg)
    ne = torch.pow(10.0, cols.iri.double())
    vtec = torch.trapezoid(ne, x=cols.alt.double(), dim=-1) * 1e-13
    return vtec.numpy().reshape(d.tec.shape)


def baselines(days: list[fc.DayMaps], truth: fc.DayMaps, cfg: IRIConfig) -> dict[str, float]:
    """RMSE [TECU] of the four baselines against the target day."""
    iri_prev = iri_maps(days[-1], days[-1].day, cfg)
    iri_next = iri_maps(days[-1], truth.day, cfg)
    preds = {
        "persistence": days[-1].tec,
        "mean of previous days (same UT)": np.mean([d.tec for d in days], axis=0),
        "IRI": iri_next,
        "IRI + previous-day residual": iri_next + days[-1].tec - iri_prev,
    }
    return {k: rmse(v, truth.tec) for k, v in preds.items()}


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - truth) ** 2)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [f"jplg00{d}0.22i.gz" for d in (1, 2)]
    ap.add_argument("--train", nargs="+", default=[str(DATA / n) for n in names])
    ap.add_argument("--truth", default=str(DATA / "jplg0030.22i.gz"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--bench", default="forecast_jpl")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg, t0 = IRIConfig(), time.time()
    days, truth = fc.read_days(args.train), fc.read_days([args.truth])[0]
    data = fc.prepare(days, cfg)
    if data.target_day != truth.day:
        raise SystemExit(f"truth file is {truth.day}, the forecast is for {data.target_day}")
    out = fc.select_and_run(data, fc.default_candidates(), args.seeds)
    base = baselines(days, truth, cfg)
    score = {n: [rmse(p, truth.tec) for p, _ in rs] for n, rs in out["runs"].items()}
    persist = base["persistence"]
    rows, trained = [], len(days) > 1
    for name in [out["chosen"]] + [n for n in score if n != out["chosen"]]:
        m, s = mean_sd(score[name])
        label = f"ionofield ({name}{', chosen on validation' if name == out['chosen'] else ''})"
        if not trained:
            label = "ionofield, one day (untrained: prior x day-D GIM/prior ratio)"
        val = f"{out['val'][name]:.2f}" if trained else "-"
        cell = f"{m:.2f} +- {s:.2f}" if trained else f"{m:.2f} (deterministic)"
        rows.append([label, cell, f"{100 * (m / persist - 1):+.1f}%", val])
    for name, v in base.items():
        rows.append([name, f"{v:.2f}", f"{100 * (v / persist - 1):+.1f}%", "-"])
    span = f"{days[0].day}..{days[-1].day} -> {truth.day}"
    table = Table(
        "forecast",
        ["method", "VTEC RMSE [TECU]", "vs persistence", "validation RMSE [TECU]"],
        rows,
        caption=f"Day-ahead VTEC forecast, trained on {span} "
        + (
            "(3 seeds; validation = every third map of the training target days; the forecast "
            "day is never seen)."
            if trained
            else "(one training day: no training pair, "
            "nothing learned or chosen; the forecast day is never seen)."
        ),
    )
    path = write_result(
        "ionofield",
        args.bench,
        tables=[table],
        config={"train": [Path(p).name for p in args.train], "truth": Path(args.truth).name,
                "candidates": {k: repr(v) for k, v in fc.default_candidates().items()}},
        seeds=args.seeds if trained else [],
        title=f"ionofield day-ahead forecast on real GIMs ({span})",
        raw={"scores": score, "baselines": base, "chosen": out["chosen"],
             "val": {k: v if np.isfinite(v) else None for k, v in out["val"].items()},
             "gains": {n: [r["gain"] for _, r in rs] for n, rs in out["runs"].items()},
             "seconds": time.time() - t0},
    )  # fmt: skip
    for r in rows:
        print(" | ".join(r))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
