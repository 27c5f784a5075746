"""``ionofield demo``: simulate -> train -> evaluate -> figures, on the 'demo' preset."""

from __future__ import annotations

import json
from pathlib import Path


def run_demo(out: Path, steps: int | None = None) -> str:
    """Run the whole pipeline under ``out``; returns a one-paragraph summary."""
    import torch

    from common.io import atomic_write
    from common.progress import get_logger
    from common.rundir import prepare_run_dir
    from ionofield.api import make_figures
    from ionofield.config import load
    from ionofield.evaluate import evaluate, summary_line
    from ionofield.iri import IRIBackground
    from ionofield.prepare import load_prepared
    from ionofield.simulate import simulate
    from ionofield.train import fit

    log = get_logger("ionofield.demo")
    torch.set_num_threads(1)  # small batches: one thread is fastest and robust to a shared CPU
    cfg = load("demo", overrides={"train.steps": steps})
    scenario, run_dir = out / "scenario", out / "run"
    log.info("simulating %s + %d days", cfg.sim.start, cfg.sim.days)
    simulate(cfg, scenario, log=log)
    prepare_run_dir(run_dir, cfg)
    prep, split = load_prepared(cfg, scenario)
    log.info(
        "training %d steps on %d observations (%d held out)",
        cfg.train.steps,
        split[0].size,
        split[1].size,
    )
    fit(cfg, run_dir, prep, split, torch.device("cpu"))
    from ionofield.api import load_run

    _, model, _ = load_run(run_dir)
    metrics = evaluate(model, prep, split[1], cfg, IRIBackground(cfg.iri), cfg.sim.storm_kp)
    with atomic_write(out / "eval.json") as fh:
        json.dump(metrics, fh, indent=1)
    figures = make_figures(run_dir, scenario, out / "figures")
    return f"held-out {summary_line(metrics)}; {len(figures)} figures in {out / 'figures'}"
