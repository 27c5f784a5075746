"""nrfix benchmark: every family, before/after on the input's cells, side by side in one run.

Held-out grids (seeds never used in training; parameters outside the training ranges):
Bowen-York with mass ratios up to 10, spins up to 0.6 and up to 3 punctures; the same warped
(non-conformally-flat coordinates); exact Schwarzschild, Kerr-Schild and Brill-Lindquist; the
real AMReX binary-black-hole plotfile. Columns: the prior alone (``correct --method newton``),
a learned checkpoint (only with ``--checkpoint``), a truncated Newton/PCG solve (one Newton
step) and the full elliptic solve (given the prior's wall time; it finishes far inside it)
where they apply (conformally flat, K = 0), with the wall time of each.
Every number is measured on the input's cells (:mod:`nrfix.measure`). The order of the
constraint left after correction is measured by bench/nrfix_convergence.py.

    OMP_NUM_THREADS=1 python bench/nrfix_bench.py [--grid 24] [--seeds 3] \
        [--checkpoint CKPT ...] [--cache DIR]

Writes results/nrfix/bench.json through common.results.write_result.
"""

from __future__ import annotations

import json
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
from nrfix.measure import CHI_EXCISION, compare, gains, region_rms, worse
from nrfix.newton import excision_mask

PLOTFILE = Path(__file__).resolve().parents[2] / "shared/data/nrfix/plt00008_compare"
BOX = 6.0
TRUNCATED = "truncated Newton/PCG (1 Newton step)"
FULL = "full elliptic solve"
MIX = "held-out mix (every grid)"
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
    held = excision_mask(x[0], CHI_EXCISION, 2)
    before, after = region_rms(x, x, dx, held), region_rms(x, y, dx, held)
    return {
        **{f"{k}_before": v for k, v in before.items() if not k.endswith("_cells")},
        **{f"{k}_after": v for k, v in after.items() if not k.endswith("_cells")},
        "held_cells": after["held_cells"],
        "bulk_cells": after["bulk_cells"],
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


def _prior(fam: str, seed: int, x: np.ndarray, dx: float, opts: dict) -> tuple:
    """The prior's output, wall time and report, cached in ``opts['cache']`` when given."""
    path = Path(opts["cache"]) / f"{fam}_{seed}_{x.shape[1]}.npz" if opts["cache"] else None
    if path is not None and path.is_file():
        z = np.load(path, allow_pickle=False)
        return z["y"], float(z["wall"]), json.loads(str(z["report"]))
    t0 = time.perf_counter()
    y, det = correct_vars(x, dx, "newton", options={"iterations": opts["iterations"]})
    wall = time.perf_counter() - t0
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, y=y, wall=wall, report=json.dumps(det["report"]))
    return y, wall, det["report"]


def _learned(fam: str, seed: int, x: np.ndarray, y_prior: np.ndarray, dx: float, opts: dict):
    """One row per checkpoint: the network on the prior's output (time = prior + network)."""
    import torch

    from nrfix.apply import correct_grid
    from nrfix.train import load_model

    rows = []
    for k, ckpt in enumerate(opts["checkpoints"]):
        model, cfg = load_model(ckpt)
        t0 = time.perf_counter()
        with torch.no_grad():
            if cfg.model.on_prior:
                y = correct_grid(model, y_prior, 32, 8, dx=dx, reference=x)
                wall = opts["t_prior"] + time.perf_counter() - t0
            else:
                y, _ = correct_vars(x, dx, "learned", ckpt)
                wall = time.perf_counter() - t0
        rows.append(_row(fam, seed, "nrfix learned", x, y, dx, wall))
        rows[-1]["train_seed"] = k
    return rows


def run_grid(fam: str, seed: int, x: np.ndarray, dx: float, opts: dict) -> list[dict]:
    """Every method on one grid."""
    y, t_prior, report = _prior(fam, seed, x, dx, opts)
    rows = [_row(fam, seed, "newton prior", x, y, dx, t_prior)]
    rows[-1]["steps"] = report["steps"]
    if opts["checkpoints"]:
        rows += _learned(fam, seed, x, y, dx, {**opts, "t_prior": t_prior})
    if check_conformally_flat(x) is None:
        # the full solve finishes far inside the prior's wall time, so "truncated at the
        # prior's time" would be the full solve: the truncated column is one Newton step
        (y, rep), t = _timed(solve_conformal_factor, x, dx, max_newton=1, defect_steps=0)
        rows.append(_row(fam, seed, TRUNCATED, x, y, dx, t))
        (y, rep), t = _timed(solve_conformal_factor, x, dx, time_budget_s=t_prior)
        rows.append(_row(fam, seed, FULL, x, y, dx, t))
        rows[-1]["stopped"] = rep.stopped
    return rows


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def learned_vs_prior(rows: list[dict]) -> list[list[Any]]:
    """Per family and over every held-out grid (``MIX``): the mean log10 gain over the four
    guarded norms (the selection metric) and each norm's gain, prior alone vs learned (mean
    over the grids, then mean +- sd over the training seeds)."""
    from nrfix.measure import GUARDED

    out = []
    for fam in [*dict.fromkeys(r["family"] for r in rows), MIX]:
        for method in ("newton prior", "nrfix learned"):
            rs = [r for r in rows if fam in (r["family"], MIX) and r["method"] == method]
            if not rs:
                continue
            seeds = sorted({r.get("train_seed", 0) for r in rs})
            per_seed = []
            for k in seeds:
                sub = [r for r in rs if r.get("train_seed", 0) == k]
                per_seed.append(
                    {
                        "score": np.mean([_score(r, GUARDED) for r in sub]),
                        **{n: np.mean([_log_gain(r, n) for r in sub]) for n in GUARDED},
                    }
                )
            cells = [fam, method, len(seeds)]
            for n in ("score", *GUARDED):
                m, sd = mean_sd([p[n] for p in per_seed])
                cells.append(f"{m:.2f} +- {sd:.2f}" if len(seeds) > 1 else f"{m:.2f}")
            out.append(cells)
    return out


def regions(rows: list[dict]) -> list[list[Any]]:
    """Per grid and method (learned: mean over the training seeds): RMS |Ham| and ||Mom||
    before -> after in the held cells beside the punctures and in the bulk."""
    out = []
    keys = dict.fromkeys((r["family"], r["seed"], r["method"]) for r in rows)
    for fam, seed, method in keys:
        rs = [r for r in rows if (r["family"], r["seed"], r["method"]) == (fam, seed, method)]
        cells = [fam, seed, method, f"{rs[0]['held_cells']} / {rs[0]['bulk_cells']}"]
        for name in ("ham_rms_held", "ham_rms_bulk", "mom_rms_held", "mom_rms_bulk"):
            after = float(np.mean([r[f"{name}_after"] for r in rs]))
            cells.append(f"{rs[0][f'{name}_before']:.3g} -> {after:.3g}")
        cells.append(float(np.mean([r["ham2_share_held_after"] for r in rs])))
        out.append(cells)
    return out


def timing(rows: list[dict]) -> list[list[Any]]:
    """Per family and method: mean wall time, its multiple of the full elliptic solve's time on
    the same grids, and the mean log10 median |Ham| gain (where the full solve applies)."""
    out = []
    for fam in dict.fromkeys(r["family"] for r in rows):
        rs_fam = [r for r in rows if r["family"] == fam]
        full = [r["wall_s"] for r in rs_fam if r["method"] == FULL]
        for method in dict.fromkeys(r["method"] for r in rs_fam):
            rs = [r for r in rs_fam if r["method"] == method]
            wall = float(np.mean([r["wall_s"] for r in rs]))
            gain = float(np.mean([np.log10(r["ham_median_gain"]) for r in rs]))
            times = (
                f"{wall / np.mean(full):.3g}" if full else "no full solve (not conformally flat)"
            )
            out.append([fam, method, wall, times, gain, sum(r["no_worse"] for r in rs), len(rs)])
    return out


def _log_gain(r: dict, name: str) -> float:
    """log10 before/after of one guarded norm of a row (> 0: better)."""
    if name in ("ham_median", "ham_rms"):
        return float(np.log10(r[f"{name}_gain"]))
    return float(-np.log10(r[f"{name}_ratio"]))


def _score(r: dict, names: Any) -> float:
    return float(np.mean([_log_gain(r, n) for n in names]))


def tables(rows: list[dict]) -> list[Table]:
    """Per-grid, per-family and learned-vs-prior tables."""
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
    lvp_cols = [
        "family",
        "method",
        "training seeds",
        "mean log10 gain (4 norms)",
        "log10 gain median |Ham|",
        "RMS |Ham|",
        "median ||Mom||",
        "RMS ||Mom||",
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
            "time",
            [
                "family",
                "method",
                "mean wall s",
                "x full solve's time",
                "mean log10 median |Ham| gain",
                "rows no worse (5%)",
                "rows",
            ],
            timing(rows),
            "Wall time (one core) against the full elliptic solve on the same grids; the "
            "learned rows include the prior's time.",
        ),
        Table(
            "regions",
            [
                "family",
                "seed",
                "method",
                "held / bulk cells",
                "RMS |Ham| held",
                "RMS |Ham| bulk",
                "RMS ||Mom|| held",
                "RMS ||Mom|| bulk",
                "share of Ham^2 in held cells (after)",
            ],
            regions(rows),
            "Where the RMS sits: the input's cells split into the cells the prior holds beside "
            "the punctures (excision core + 2-cell buffer) and the bulk; input -> after.",
        ),
        Table(
            "learned_vs_prior",
            lvp_cols,
            learned_vs_prior(rows),
            "Learned correction on top of the prior vs the prior alone, held-out grids: log10 "
            "before/after of the four guarded norms (> 0: better), mean over the family's "
            "grids, then mean +- sd over the training seeds.",
        ),
    ]


@click.command()
@click.option("--grid", type=int, default=24, show_default=True, help="Cells per axis (box 6).")
@click.option("--seeds", type=int, default=3, show_default=True, help="Seeds per BY family.")
@click.option("--iterations", type=int, default=2, show_default=True, help="Prior iterations.")
@click.option(
    "--checkpoint",
    "checkpoints",
    type=click.Path(exists=True),
    multiple=True,
    help="Learned model (repeat: one per training seed).",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False),
    default=None,
    help="Keep the prior's outputs here (a rerun with new checkpoints reuses them).",
)
def main(
    grid: int, seeds: int, iterations: int, checkpoints: tuple[str, ...], cache: str | None
) -> None:
    """Run every method on every held-out grid; write results/nrfix/bench.json."""
    opts = {"iterations": iterations, "checkpoints": checkpoints, "cache": cache}
    rows: list[dict] = []
    for fam, seed, x, dx in grids(grid, seeds):
        for r in run_grid(fam, seed, x, dx, opts):
            rows.append(r)
            click.echo(
                f"{fam:18s} {seed} {r['method']:34s} gain {r['ham_median_gain']:10.3g} "
                f"mom {r['mom_median_ratio']:.3f}/{r['mom_rms_ratio']:.3f} {r['wall_s']:.1f}s"
                f" {'ok' if r['no_worse'] else 'WORSE ' + '; '.join(r['worse'])}"
            )
    path = write_result(
        "nrfix",
        "bench",
        tables=tables(rows),
        config={
            "grid": grid,
            "box": BOX,
            "iterations": iterations,
            "checkpoints": list(checkpoints),
            "learned": "not trained in this run" if not checkpoints else list(checkpoints),
            "prior_cache": cache
            or "none: every prior row computed in this run (wall times measured here)",
        },
        seeds=list(range(seeds)),
        title="nrfix: the residual-driven prior vs classical solves, every family",
        raw={"rows": rows},
    )
    click.echo(f"wrote {path}")


if __name__ == "__main__":
    main()
