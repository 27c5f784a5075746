"""nrfix benchmark: every family, before/after on the input's cells, side by side in one run.

Held-out grids (seeds never used in training; parameters outside the training ranges):
Bowen-York with mass ratios up to 10, spins up to 0.6 and up to 3 punctures; the same warped
(non-conformally-flat coordinates); exact Schwarzschild, Kerr-Schild and Brill-Lindquist; the
real AMReX binary-black-hole plotfile. Columns: the prior alone (``correct --method newton``),
a learned checkpoint (only with ``--checkpoint``), a truncated Newton/PCG solve given the
prior's wall time, and the full elliptic solve where it applies (conformally flat, K = 0).
Every number is measured on the input's cells (:mod:`nrfix.measure`). A last table checks
the constraint left after correction from dx to dx/2.

    OMP_NUM_THREADS=1 python bench/nrfix_bench.py [--grid 24] [--seeds 3] [--checkpoint CKPT]

Writes results/nrfix/bench.json through common.results.write_result.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from common.results import Table, mean_sd, write_result
from nrfix.correct import correct_vars
from nrfix.data import generate
from nrfix.elliptic import check_conformally_flat, solve_conformal_factor
from nrfix.formats import read_any
from nrfix.measure import compare, gains, worse

PLOTFILE = Path(__file__).resolve().parents[2] / "shared/data/nrfix/plt00008_compare"
BOX = 6.0
SEED_BASE = 9_000  # the training configs use data.seed 1234 (streams 0-2): never these


def by_params(seed: int, warped: bool) -> dict[str, Any]:
    """Bowen-York punctures: seed 0 mass ratio 10 + spin 0.6, seed 1 three punctures, seed 2
    mass ratio 4, |P| 0.5, |S| 0.6 (directions and positions from the seed)."""
    rng = np.random.default_rng([SEED_BASE, seed])
    masses = [[0.5, 0.05], [0.4, 0.2, 0.1], [0.6, 0.15]][seed % 3]
    spins, moms = [0.6, 0.0, 0.3][seed % 3], [0.3, 0.3, 0.5][seed % 3]
    angles = rng.uniform(0, 2 * np.pi) + np.arange(len(masses)) * 2 * np.pi / len(masses)
    punct = []
    for a, m in zip(angles, masses):
        unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
        pos = [1.1 * np.cos(a), 1.1 * np.sin(a), rng.uniform(-0.2, 0.2)]
        punct.append(
            {
                "m": m,
                "pos": pos,
                "P": (moms * unit(rng.normal(size=3))).tolist(),
                "S": (spins * unit(rng.normal(size=3))).tolist(),
            }
        )
    params: dict[str, Any] = {"punctures": punct}
    if warped:
        eps = rng.uniform(0.06, 0.12, 3) * rng.choice([-1, 1], 3)
        params["transform"] = {"eps": eps.tolist(), "omega": 2 * np.pi / BOX}
    return params


def grids(n: int, seeds: int) -> list[tuple[str, int, np.ndarray, float]]:
    """(family, seed, vars, dx) of every held-out grid."""
    dx = BOX / n
    origin = np.full(3, -BOX / 2 + dx / 2) + 0.013  # punctures off the cell centres
    out = []
    for s in range(seeds):
        out.append(
            (
                "bowen_york",
                s,
                generate("bowen_york", by_params(s, False), (n,) * 3, dx, origin).vars,
                dx,
            )
        )
        out.append(
            (
                "bowen_york_warped",
                s,
                generate("bowen_york", by_params(s, True), (n,) * 3, dx, origin).vars,
                dx,
            )
        )
    one = {"punctures": [{"m": 0.8, "pos": [0.0, 0.0, 0.0]}]}
    two = {"punctures": [{"m": 0.5, "pos": [1.0, 0.1, 0.0]}, {"m": 0.3, "pos": [-1.0, 0, 0.1]}]}
    for fam, params in (("schwarzschild", one), ("kerr_schild", one), ("brill_lindquist", two)):
        out.append((fam, 0, generate(fam, params, (n,) * 3, dx, origin).vars, dx))
    if PLOTFILE.is_dir():
        g = read_any(PLOTFILE)
        out.append(("amrex_plotfile", 0, g.vars, g.dx))
    return out


def _row(
    fam: str, seed: int, method: str, x: np.ndarray, y: np.ndarray, dx: float, wall: float
) -> dict[str, Any]:
    cmp = compare(x, y, dx)
    g = gains(cmp)
    return {
        "family": fam,
        "seed": seed,
        "method": method,
        "input_ham_median": cmp["before"]["ham_median"],
        "ham_median_gain": g["ham_median"],
        "ham_rms_gain": g["ham_rms"],
        "mom_median_ratio": cmp["ratio"]["mom_median"],
        "mom_rms_ratio": cmp["ratio"]["mom_rms"],
        "adm_mass_change": cmp["adm_mass_change"],
        "wall_s": wall,
        "no_worse": not worse(cmp),
        "worse": worse(cmp),
    }


def run_grid(fam: str, seed: int, x: np.ndarray, dx: float, opts: dict) -> list[dict]:
    """Every method on one grid."""
    t0 = time.perf_counter()
    y, det = correct_vars(x, dx, "newton", options={"iterations": opts["iterations"]})
    t_prior = time.perf_counter() - t0
    rows = [_row(fam, seed, "newton prior", x, y, dx, t_prior)]
    rows[-1]["steps"] = det["report"]["steps"]
    if opts["checkpoint"]:
        t0 = time.perf_counter()
        y, _ = correct_vars(x, dx, "learned", opts["checkpoint"])
        rows.append(_row(fam, seed, "learned", x, y, dx, time.perf_counter() - t0))
    if check_conformally_flat(x) is None:
        (y, rep), t = _timed(solve_conformal_factor, x, dx, time_budget_s=t_prior)
        rows.append(_row(fam, seed, "truncated Newton/PCG (same time)", x, y, dx, t))
        (y, rep), t = _timed(solve_conformal_factor, x, dx)
        rows.append(_row(fam, seed, "full elliptic solve", x, y, dx, t))
        rows[-1]["stopped"] = rep.stopped
    return rows


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def convergence(n: int, iterations: int) -> list[list[Any]]:
    """Median |Ham| (input's cells) after the prior at dx and dx/2 on the seed-0 BY config."""
    rows, meds = [], {}
    for m in (n, 2 * n):
        dx = BOX / m
        x = generate(
            "bowen_york", by_params(0, False), (m,) * 3, dx, np.full(3, -BOX / 2 + dx / 2) + 0.013
        ).vars
        y, _ = correct_vars(x, dx, "newton", options={"iterations": iterations})
        cmp = compare(x, y, dx)
        meds[m] = (cmp["before"]["ham_median"], cmp["after"]["ham_median"])
        rows.append([m, dx, meds[m][0], meds[m][1], cmp["after"]["mom_median"]])
    ratio = meds[n][1] / max(meds[2 * n][1], 1e-300)
    rows.append(
        ["ratio dx -> dx/2", "", meds[n][0] / meds[2 * n][0], ratio, f"order {np.log2(ratio):.2f}"]
    )
    return rows


def tables(rows: list[dict], conv: list[list[Any]]) -> list[Table]:
    """Per-grid, per-family and convergence tables."""
    cols = [
        "family",
        "seed",
        "method",
        "input median |Ham|",
        "median |Ham| gain",
        "RMS |Ham| gain",
        "median ||Mom|| after/before",
        "RMS ||Mom|| after/before",
        "ADM mass change",
        "wall s",
        "no worse (5%)",
    ]
    per = [
        [
            r["family"],
            r["seed"],
            r["method"],
            r["input_ham_median"],
            r["ham_median_gain"],
            r["ham_rms_gain"],
            r["mom_median_ratio"],
            r["mom_rms_ratio"],
            r["adm_mass_change"],
            r["wall_s"],
            r["no_worse"],
        ]
        for r in rows
    ]
    fam_rows = []
    for fam in dict.fromkeys(r["family"] for r in rows):
        for method in dict.fromkeys(r["method"] for r in rows if r["family"] == fam):
            rs = [r for r in rows if r["family"] == fam and r["method"] == method]
            m, sd = mean_sd([r["ham_median_gain"] for r in rs])
            fam_rows.append(
                [
                    fam,
                    method,
                    len(rs),
                    f"{m:.3g} +- {sd:.2g}",
                    min(r["ham_median_gain"] for r in rs),
                    max(r["mom_median_ratio"] for r in rs),
                    max(r["mom_rms_ratio"] for r in rs),
                    sum(r["no_worse"] for r in rs),
                    mean_sd([r["wall_s"] for r in rs])[0],
                ]
            )
    fam_cols = [
        "family",
        "method",
        "grids",
        "median |Ham| gain (mean +- sd)",
        "worst gain",
        "max median ||Mom|| ratio",
        "max RMS ||Mom|| ratio",
        "grids no worse",
        "mean wall s",
    ]
    conv_cols = [
        "cells per axis",
        "dx",
        "input median |Ham|",
        "after median |Ham|",
        "after median ||Mom||",
    ]
    return [
        Table(
            "families",
            fam_cols,
            fam_rows,
            "Per family: gains on the input's cells (> 1: better); "
            "ratios after/before (> 1: worse).",
        ),
        Table(
            "grids", cols, per, "Every grid and method (gains before/after, ratios after/before)."
        ),
        Table(
            "convergence",
            conv_cols,
            conv,
            "Bowen-York seed 0 after the prior, dx -> dx/2 (4th order: ratio ~16).",
        ),
    ]


@click.command()
@click.option("--grid", type=int, default=24, show_default=True, help="Cells per axis (box 6).")
@click.option("--seeds", type=int, default=3, show_default=True, help="Seeds per BY family.")
@click.option("--iterations", type=int, default=2, show_default=True, help="Prior iterations.")
@click.option("--checkpoint", type=click.Path(exists=True), default=None, help="Learned model.")
@click.option("--no-convergence", is_flag=True, help="Skip the dx -> dx/2 table.")
def main(
    grid: int, seeds: int, iterations: int, checkpoint: str | None, no_convergence: bool
) -> None:
    """Run every method on every held-out grid; write results/nrfix/bench.json."""
    opts = {"iterations": iterations, "checkpoint": checkpoint}
    rows: list[dict] = []
    for fam, seed, x, dx in grids(grid, seeds):
        for r in run_grid(fam, seed, x, dx, opts):
            rows.append(r)
            click.echo(
                f"{fam:18s} {seed} {r['method']:34s} gain {r['ham_median_gain']:10.3g} "
                f"mom {r['mom_median_ratio']:.3f}/{r['mom_rms_ratio']:.3f} {r['wall_s']:.1f}s"
                f" {'ok' if r['no_worse'] else 'WORSE ' + '; '.join(r['worse'])}"
            )
    conv = [] if no_convergence else convergence(grid // 2 if grid >= 32 else 16, iterations)
    path = write_result(
        "nrfix",
        "bench",
        tables=tables(rows, conv),
        config={
            "grid": grid,
            "box": BOX,
            "iterations": iterations,
            "checkpoint": checkpoint,
            "learned": "not trained in this run" if checkpoint is None else checkpoint,
        },
        seeds=list(range(seeds)),
        title="nrfix: the residual-driven prior vs classical solves, every family",
        raw={"rows": rows},
    )
    click.echo(f"wrote {path}")


if __name__ == "__main__":
    main()
