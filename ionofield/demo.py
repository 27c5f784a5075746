"""``ionofield demo``: simulate -> train -> evaluate -> figures, on the 'demo' preset."""

from __future__ import annotations

from pathlib import Path


def run_demo(out: str | Path, steps: int | None = None) -> str:
    """Run the whole pipeline under ``out`` (scenario/, run/, eval.json, figures/).

    Parameters
    ----------
    out
        Folder for everything the demo writes.
    steps
        Training steps (default: the demo preset's).

    Returns
    -------
    str
        A one-line summary of the held-out accuracy and where the figures are.
    """
    import torch

    from common.progress import get_logger
    from ionofield.api import evaluate_run, fit, load_config, make_figures, simulate
    from ionofield.evaluate import summary_line

    log = get_logger("ionofield.demo")
    torch.set_num_threads(1)  # small batches: one thread is fastest and robust to a shared CPU
    out = Path(out)
    scenario, run_dir = out / "scenario", out / "run"
    cfg = load_config(
        "demo", overrides={"train.steps": steps, "data.scenario": str(scenario.resolve())}
    )
    log.info("simulating %s + %d days", cfg.sim.start, cfg.sim.days)
    simulate(cfg, scenario)
    log.info("training %d steps", cfg.train.steps)
    fit(cfg, run_dir, device="cpu")
    metrics, _ = evaluate_run(run_dir, scenario, out=out / "eval.json")
    figures = make_figures(run_dir, scenario, out / "figures")
    return f"held-out {summary_line(metrics)}; {len(figures)} figures in {out / 'figures'}"
