"""nrfix convergence: the continuum constraint left after correction, from dx to dx/2.

The same physical Bowen-York data (the benchmark's held-out puncture configurations) on a
4 x 4 x 4 patch that does not contain the punctures (centred 3.2 above their plane: like a
refinement level away from the holes, so nothing is excised or held), at dx = 4/(n-1) and
dx/2 with every coarse point also a fine point (:func:`nrfix.convergence.aligned_grids`).
Each grid is corrected by the residual-driven prior, twice: its conformal-factor Newton
steps with the 5% guard off and exactly as ``correct --method newton`` runs by
default (coupled Ham + Mom steps, falling back to the conformal step when the coupled solve
does not converge or its result is worse than the input, guard on); the continuum Ham and Mom of the
result are estimated with a 6th-order accurate Richardson evaluation of the constraint core
(:func:`nrfix.convergence.continuum_constraints`); RMS over the common points at least
``margin`` coarse cells from the faces. The discrete (4th-order) Ham is zero to solver
tolerance after the correction, so the continuum constraint left is the truncation error:
4th order means a ratio of 16 per halving. Calibration rows: the uncorrected input (a
physical violation: ratio ~1) and exact Brill-Lindquist data (the measurement's own floor,
O(dx^6)).

    OMP_NUM_THREADS=1 python bench/nrfix_convergence.py [--n 20] [--seeds 3] [--coupled-seeds 3]

Writes results/nrfix/convergence.json through common.results.write_result.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nrfix_bench import by_params  # noqa: E402

from common.results import Table, write_result  # noqa: E402
from nrfix.convergence import MARGIN, aligned_grids, convergence_norms  # noqa: E402
from nrfix.measure import compare  # noqa: E402
from nrfix.newton import newton_correct  # noqa: E402

BOX = 4.0
CENTRE = np.array([0.0, 0.0, 4.0])


def _shifted(params: dict[str, Any]) -> dict[str, Any]:
    """Puncture positions relative to the patch centre (the patch is centred at the origin)."""
    out = {**params, "punctures": [dict(p) for p in params["punctures"]]}
    for p in out["punctures"]:
        p["pos"] = (np.asarray(p["pos"]) - CENTRE).tolist()
    return out


def _region(n: int, margin: int) -> np.ndarray:
    keep = np.zeros((n - 2 * MARGIN,) * 3, bool)
    e = margin - MARGIN
    keep[e : keep.shape[0] - e, e : keep.shape[1] - e, e : keep.shape[2] - e] = True
    return keep


CORRECTIONS = {
    "input": None,
    # the method itself: conformal-factor Newton steps, the 5% guard off
    "conformal, guard off": {
        "iterations": 2,
        "momentum": False,
        "guard": False,
        "extra_iterations": 0,
    },
    # exactly as `correct --method newton` runs by default: coupled Ham + Mom steps with the
    # conformal-step fallback, guard on
    "coupled, as correct": {"iterations": 2},
}


def run_case(label: str, family: str, params: dict, n: int, margin: int, correction: str) -> dict:
    """Continuum-constraint norms of (corrected) data at dx and dx/2."""
    (xc, dxc, _), (xf, dxf, _) = aligned_grids(family, _shifted(params), n, BOX)
    info: dict[str, Any] = {"case": label, "correction": correction, "n": n, "dx": dxc}
    opts = CORRECTIONS[correction]
    if opts is not None:
        t0 = time.perf_counter()
        yc, rc = newton_correct(xc, dxc, **opts)
        yf, rf = newton_correct(xf, dxf, **opts)
        info["wall_s"] = time.perf_counter() - t0
        info["steps"] = [len(rc.steps), len(rf.steps)]
        info["stopped"] = [rc.stopped, rf.stopped]
        info["step_reports"] = [rc.steps, rf.steps]
        info["discrete_ham_median_after"] = [
            compare(xc, yc, dxc)["after"]["ham_median"],
            compare(xf, yf, dxf)["after"]["ham_median"],
        ]
        xc, xf = yc, yf
    info.update(convergence_norms(xc, xf, (dxc, dxf), _region(n, margin)))
    return info


def fine_grid_check(n: int) -> list[list[Any]]:
    """The benchmark's Bowen-York seed-0 grid (punctures inside, box 6) at n^3 corrected as
    ``correct --method newton`` does (coupled steps, 5% guard): steps taken, why it stopped
    and the guarded norms before/after."""
    from nrfix.data import generate

    dx = 6.0 / n
    x = generate(
        "bowen_york", by_params(0, False), (n,) * 3, dx, np.full(3, -3.0 + dx / 2) + 0.013
    ).vars
    t0 = time.perf_counter()
    y, rep = newton_correct(x, dx, iterations=2)
    wall = time.perf_counter() - t0
    cmp = compare(x, y, dx)
    rows = []
    for i, st in enumerate(rep.steps):
        rows.append([n, i + 1, st["linear_rel_residual"], "; ".join(st["worse"]) or "none", ""])
    b, a = cmp["before"], cmp["after"]
    summary = ", ".join(
        f"{k} {b[k]:.3g} -> {a[k]:.3g}" for k in ("ham_median", "ham_rms", "mom_median", "mom_rms")
    )
    rows.append([n, "result", "", rep.stopped, f"{summary}; {wall:.0f} s"])
    return rows


@click.command()
@click.option("--n", type=int, default=20, show_default=True, help="Coarse points per axis.")
@click.option("--seeds", type=int, default=3, show_default=True, help="Bowen-York configs.")
@click.option("--margin", type=int, default=6, show_default=True, help="Coarse cells from faces.")
@click.option("--fine", type=int, default=32, show_default=True, help="Fine-grid check (0: skip).")
@click.option(
    "--coupled-seeds",
    type=int,
    default=3,
    show_default=True,
    help="Configurations also corrected as `correct` runs (minutes each at dx/2).",
)
def main(n: int, seeds: int, margin: int, fine: int, coupled_seeds: int) -> None:
    """Measure the order of the constraint left after correction; write convergence.json."""
    rows = []
    bl = {"punctures": [{"m": 0.5, "pos": [1.0, 0.1, 0.0]}, {"m": 0.3, "pos": [-1.0, 0, 0.1]}]}
    cases = [("exact Brill-Lindquist (measurement floor)", "brill_lindquist", bl, "input")]
    for s in range(seeds):
        for corr in CORRECTIONS:
            if corr.startswith("coupled") and s >= coupled_seeds:
                continue
            cases.append((f"Bowen-York seed {s}", "bowen_york", by_params(s, False), corr))
    for corr in ("conformal, guard off", "coupled, as correct"):
        cases.append(("warped Bowen-York seed 0", "bowen_york", by_params(0, True), corr))
    for label, fam, params, corr in cases:
        r = run_case(label, fam, params, n, margin, corr)
        rows.append(r)
        click.echo(
            f"{label:26s} {corr:22s} Ham {r['ham_rms_coarse']:.3e} -> {r['ham_rms_fine']:.3e} "
            f"(order {r['ham_order']:.2f}); Mom {r['mom_rms_coarse']:.3e} -> "
            f"{r['mom_rms_fine']:.3e} (order {r['mom_order']:.2f}) {r.get('wall_s', 0):.0f}s"
        )
    table = [
        [
            r["case"],
            r["correction"],
            " / ".join(r.get("stopped", [])),
            r["ham_rms_coarse"],
            r["ham_rms_fine"],
            r["ham_ratio"],
            r["ham_order"],
            r["mom_rms_coarse"],
            r["mom_rms_fine"],
            r["mom_ratio"] if r["mom_rms_fine"] > 0 else "exact (0)",
            r["mom_order"] if r["mom_rms_fine"] > 0 else "",
            r["points"],
        ]
        for r in rows
    ]
    cols = [
        "case",
        "correction",
        "correction stopped (dx / dx/2)",
        "RMS continuum |Ham| at dx",
        "at dx/2",
        "ratio",
        "order",
        "RMS continuum ||Mom|| at dx",
        "at dx/2",
        "ratio",
        "order",
        "common points",
    ]
    caption = (
        f"Continuum constraint (6th-order Richardson estimate) on the common points of a "
        f"{BOX:g}^3 patch away from the punctures, dx = {BOX / (n - 1):.4g} -> dx/2 "
        f"(4th order: ratio 16, order 4)."
    )
    tables = [Table("convergence", cols, table, caption)]
    if fine:
        tables.append(
            Table(
                "fine_grid",
                ["cells per axis", "Newton step", "linear rel. residual", "worse than input", ""],
                fine_grid_check(fine),
                f"The benchmark's Bowen-York seed-0 grid at {fine}^3, corrected as `correct "
                "--method newton` does: what each step left worse than the input (5% rule).",
            )
        )
    path = write_result(
        "nrfix",
        "convergence",
        tables=tables,
        config={
            "n": n,
            "box": BOX,
            "centre": CENTRE.tolist(),
            "margin": margin,
            "coupled_seeds": coupled_seeds,
            "corrections": CORRECTIONS,
        },
        seeds=list(range(seeds)),
        title="nrfix: order of the constraint left after correction",
        raw={"rows": rows},
    )
    click.echo(f"wrote {path}")


if __name__ == "__main__":
    main()
