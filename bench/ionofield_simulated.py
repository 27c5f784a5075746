"""ionofield simulated bench, honest version: 3 seeds, a validation split separate from the
test split, a binned-lookup baseline with no network (memory per batch: bench/ionofield_bench.py).

Scenario: the `bench` preset (2015-03-16/17, quiet day then the St Patrick's Day storm).
Held-out 3-hour blocks alternate between validation (chooses best.pt) and test (scored here).
Rows: IRI; binned lookup (IRI + mean training residual per bin of source x 10 deg latitude
x 3 h local time x 50 km altitude); ionofield with and without the TEC-direction loss.
log10 Ne RMSE against the simulated truth on the test split. Memory: peak RSS increase of
one training step, each batch size in a new Python process. Writes
results/ionofield/simulated.json.

    OMP_NUM_THREADS=1 .venv/bin/python bench/ionofield_simulated.py [--steps 1000]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

OUT = Path("runs/bench/ionofield")


def binned_lookup(prep, train: np.ndarray, test: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """IRI + the mean training residual (obs - IRI) of the test point's bin."""
    from ionofield.tec import local_time_h

    o = prep.obs
    lt = local_time_h(np.mod(o["time_s"], 86400.0) / 3600.0, o["lon"])
    key = (o["source"].astype(np.int64) * 1_000_000 + np.floor((o["lat"] + 90) / 10) * 10_000
           + np.floor(lt / 3) * 100 + np.floor(o["alt_km"] / 50)).astype(np.int64)  # fmt: skip
    resid = o["log10_ne"] - prep.bg.double().numpy()
    uniq, inv = np.unique(key[train], return_inverse=True)
    mean = np.bincount(inv, resid[train]) / np.bincount(inv)
    pos = np.clip(np.searchsorted(uniq, key[test]), 0, uniq.size - 1)
    found = uniq[pos] == key[test]
    corr = np.where(found, mean[pos], resid[train].mean())
    return prep.bg[test].double().numpy() + corr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--preset", default="bench")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    from common.results import Table, mean_sd, write_result
    from ionofield.api import fit, load_model
    from ionofield.config import load
    from ionofield.evaluate import evaluate, rmse
    from ionofield.iri import IRIBackground
    from ionofield.prepare import load_prepared, test_indices
    from ionofield.simulate import simulate

    torch.set_num_threads(1)
    t0 = time.time()
    cfg = load(args.preset, overrides={"train.steps": args.steps, "train.eval_every": 250})
    scen = OUT / "scenario"
    if not (scen / "scenario.json").is_file():
        simulate(cfg, scen)
    prep, (train, val) = load_prepared(cfg, scen)
    test = test_indices(cfg, prep)
    truth = prep.obs["log10_ne_true"][test]
    iri = rmse(prep.bg[test].double().numpy(), truth)
    lookup = rmse(binned_lookup(prep, train, test), truth)
    scores: dict[str, list[float]] = {"ionofield": [], "ionofield, no TEC-direction loss": []}
    bg = IRIBackground(cfg.iri)
    for seed in args.seeds:
        for name, w in zip(scores, (cfg.loss.w_tec_direction, 0.0)):
            c = replace(
                cfg,
                loss=replace(cfg.loss, w_tec_direction=w),
                train=replace(cfg.train, seed=seed),
                data=replace(cfg.data, scenario=str(scen)),
            )
            run = OUT / f"{name.split(',')[0]}_{'tec' if w else 'notec'}_s{seed}"
            fit(c, run, device="cpu")
            m = evaluate(load_model(run)[0], prep, test, c, bg, cfg.sim.storm_kp)
            scores[name].append(m["points"]["all"]["model_vs_truth"])
            print(name, seed, scores[name][-1], flush=True)
    rows = [["IRI", f"{iri:.4f}", "-"], ["binned lookup (no network)", f"{lookup:.4f}",
            f"{100 * (1 - lookup / iri):.1f}%"]]  # fmt: skip
    for name, v in scores.items():
        m, s = mean_sd(v)
        rows.append([name, f"{m:.4f} +- {s:.4f}", f"{100 * (1 - m / iri):.1f}%"])
    tables = [
        Table("simulated", ["field", "test log10 Ne RMSE vs truth", "lower than IRI"], rows,
              caption=f"Simulated 2-day storm scenario, test blocks only ({test.size} points; "
              f"validation blocks chose best.pt), {args.steps} steps, seeds {args.seeds}."),
    ]  # fmt: skip
    path = write_result(
        "ionofield",
        "simulated",
        tables=tables,
        config={"preset": args.preset, "steps": args.steps},
        seeds=args.seeds,
        title="ionofield on the simulated storm scenario (test split)",
        raw={
            "scores": scores,
            "iri": iri,
            "lookup": lookup,
            "n": {"train": int(train.size), "val": int(val.size), "test": int(test.size)},
            "seconds": time.time() - t0,
        },
    )
    print(json.dumps({"rows": rows}, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
