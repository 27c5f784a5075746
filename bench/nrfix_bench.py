"""nrfix benchmark: uncorrected vs nrfix vs the elliptic conformal-factor solve, side by side.

Held-out Bowen-York configurations (the ``test`` seed stream, never used in training), on the
same grid for every method. Reports RMS and median |Ham|, RMS ||Mom|| (punctures excised,
chi < 0.05), reduction factors over the uncorrected data, ||y_hat - x|| (RMS over chi and A_ij)
and wall time. Writes runs/bench/nrfix/{bench.json, bench.md}.

    python bench/nrfix_bench.py [--checkpoint CKPT | --train-steps N] [--configs 3]
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import click
import numpy as np

from common.config import load_config
from common.io import atomic_write
from nrfix.api import correct_grid, summarize, timed
from nrfix.config import PRESETS_DIR, Config
from nrfix.data import make_split
from nrfix.elliptic import solve_conformal_factor
from nrfix.model import NRFixNet
from nrfix.train import fit, load_model

OUT = Path("runs/bench/nrfix")


def _row(name: str, x: np.ndarray, y: np.ndarray, dx: float, wall: float, base: dict) -> dict:
    s = summarize(y, dx)
    s.update(
        method=name,
        wall_s=wall,
        dist=float(np.sqrt(((y[:14] - x[:14]) ** 2).mean())),
        ham_median_x=base["ham_median"] / max(s["ham_median"], 1e-300),
        ham_rms_x=base["ham_rms"] / max(s["ham_rms"], 1e-300),
        mom_rms_ratio=s["mom_rms"] / max(base["mom_rms"], 1e-300),
    )
    return s


def _table(rows: list[dict]) -> str:
    head = (
        "| method | RMS Ham | median Ham | RMS Mom | median-Ham reduction | RMS-Ham reduction "
        "| Mom after/before | RMS y-x | wall s |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    body = "".join(
        f"| {r['method']} | {r['ham_rms']:.3e} | {r['ham_median']:.3e} | {r['mom_rms']:.3e} | "
        f"{r['ham_median_x']:.2f}x | {r['ham_rms_x']:.2f}x | {r['mom_rms_ratio']:.3f} | "
        f"{r['dist']:.2e} | "
        f"{r['wall_s']:.2f} |\n"
        for r in rows
    )
    return head + body


def _figures(x: np.ndarray, fixed: np.ndarray, solved: np.ndarray, dx: float) -> None:
    from nrfix import plots
    from nrfix.api import constraint_fields

    fields = {
        k: constraint_fields(v, dx)
        for k, v in {"uncorrected": x, "nrfix": fixed, "elliptic solve": solved}.items()
    }
    plots.plot_histograms(fields, OUT / "hist.png", 0.05)
    plots.plot_slices(fields, OUT / "slices.png")


@click.command()
@click.option(
    "--checkpoint", type=click.Path(exists=True), default=None, help="Trained nrfix checkpoint."
)
@click.option(
    "--train-steps",
    type=int,
    default=60,
    show_default=True,
    help="Without --checkpoint: train the cpu preset for this many steps first.",
)
@click.option("--configs", type=int, default=3, show_default=True, help="Held-out configurations.")
@click.option(
    "--grid", type=int, default=32, show_default=True, help="Cells per axis of the test grids."
)
def main(checkpoint: str | None, train_steps: int, configs: int, grid: int) -> None:
    """Run the side-by-side benchmark and write JSON + Markdown to runs/bench/nrfix/."""
    if checkpoint is None:
        cfg = load_config(
            Config, preset="cpu", presets_dir=PRESETS_DIR, sets=[f"train.steps={train_steps}"]
        )
        fit(cfg, OUT / "run")
        checkpoint = str(OUT / "run/checkpoints/best.pt")
    model, cfg = load_model(checkpoint)
    test_cfg = load_config(
        Config,
        overrides={
            **{f"data.{k}": v for k, v in vars(cfg.data).items()},
            "data.n_val": configs,
            "data.grid": grid,
        },
    )
    prior = None
    if cfg.model.source_prior:  # ablation: the physics prior alone (gain 1, no network)
        prior = NRFixNet(cfg.model).eval()
        prior.prior_gain.data.fill_(1.0)
    per_config = []
    for i, g in enumerate(make_split(test_cfg.data, "test")):
        base = summarize(g.vars, g.dx)
        fixed, t_nn = timed(correct_grid, model, g.vars, 32, 8, dx=g.dx)
        (solved, _), t_el = timed(solve_conformal_factor, g.vars, g.dx)
        if i == 0:
            _figures(g.vars, fixed, solved, g.dx)
        rows = [
            _row("uncorrected", g.vars, g.vars, g.dx, 0.0, base),
            _row("nrfix", g.vars, fixed, g.dx, t_nn, base),
            _row("elliptic solve", g.vars, solved, g.dx, t_el, base),
        ]
        if prior is not None:
            only, t_pr = timed(correct_grid, prior, g.vars, 32, 8, dx=g.dx)
            rows.append(_row("prior only (gain 1, no net)", g.vars, only, g.dx, t_pr, base))
        per_config.append(rows)
    keys = [k for k, v in per_config[0][0].items() if isinstance(v, float)]
    mean_rows = [
        {"method": rows[0]["method"], **{k: float(np.mean([r[k] for r in rows])) for k in keys}}
        for rows in zip(*per_config)
    ]
    meta = {
        "machine": f"{platform.processor() or platform.machine()}, 2 cores, CPU",
        "checkpoint": checkpoint,
        "configs": configs,
        "grid": grid,
        "box": test_cfg.data.box,
        "train_config": vars(cfg.train),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    with atomic_write(OUT / "bench.json") as fh:
        json.dump(
            {"meta": meta, "mean": mean_rows, "per_config": per_config}, fh, indent=2, default=str
        )
    nn_row, el_row = mean_rows[1], mean_rows[2]
    per = ", ".join(f"{rows[1]['ham_median_x']:.1f}x" for rows in per_config)
    md = (
        f"Held-out Bowen-York configs: {configs}, grid {grid}^3, means over configs.\n\n"
        + _table(mean_rows)
        + f"\nnrfix median-|Ham| reduction per config: {per}; nrfix is "
        f"{el_row['wall_s'] / max(nn_row['wall_s'], 1e-12):.1f}x faster than the elliptic solve.\n"
    )
    with atomic_write(OUT / "bench.md") as fh:
        fh.write(md)
    click.echo(md)


if __name__ == "__main__":
    main()
