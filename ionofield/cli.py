"""Command-line interface of ionofield (Click; heavy imports inside the commands)."""

from __future__ import annotations

from pathlib import Path

import click

from common.options import (
    UserErrorGroup,
    config_options,
    device_option,
    run_options,
    seed_option,
    threads_option,
)
from ionofield import __version__

scenario_option = click.option(
    "--scenario",
    type=click.Path(exists=True, file_okay=False),
    required=True,
    help="Scenario folder (from `ionofield simulate`).",
)


@click.group(cls=UserErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ionofield")
@threads_option(default=0)
def cli() -> None:
    """Ionospheric electron density = IRI background + learned residual (R-STMRF)."""


def _cfg(preset, config_file, sets, overrides=None):
    from ionofield.config import load

    return load(preset, config_file, overrides, tuple(sets))


@cli.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Scenario folder to write.",
)
@click.option("--start", default=None, help="First UTC day, YYYY-MM-DD (default: the config's).")
@click.option("--days", type=int, default=None, help="Number of days (default: the config's).")
@config_options
@seed_option
def simulate(out_dir, start, days, preset, config_file, sets, seed) -> None:
    """Simulate a scenario: truth = IRI + storm + TIDs; FY-3D in-situ + RO data; IONEX TEC maps."""
    from common.progress import get_logger
    from ionofield.simulate import simulate as run

    cfg = _cfg(preset, config_file, sets, {"sim.start": start, "sim.days": days, "sim.seed": seed})
    meta = run(cfg, out_dir, log=get_logger("ionofield.simulate"))
    click.echo(f"scenario {meta['start']} + {meta['days']} d written to {out_dir}")


@cli.command()
@click.option(
    "--scenario",
    type=click.Path(exists=True, file_okay=False),
    required=True,
    help="Folder with observations.h5 and tec/*.i (from `ionofield simulate`).",
)
@click.option(
    "--cpu-optimized",
    is_flag=True,
    help="CPU preset: batch 512, seq_len 4, smaller nets, eval cache on.",
)
@click.option("--steps", type=int, default=None, help="Optimizer steps (default: the config's).")
@config_options
@run_options
@device_option
@seed_option
def train(
    scenario, cpu_optimized, steps, preset, config_file, sets, run_dir, resume, device, seed
) -> None:
    """Train the residual field on a scenario (works under torchrun; rank 0 writes)."""
    import torch

    from common.distributed import cleanup_distributed, setup_distributed
    from common.rundir import prepare_run_dir
    from ionofield.prepare import load_prepared
    from ionofield.train import fit

    if cpu_optimized and preset:
        raise click.BadParameter(
            "use either --cpu-optimized or --preset", param_hint="--cpu-optimized"
        )
    cfg = _cfg(
        "cpu" if cpu_optimized else preset,
        config_file,
        sets,
        {"train.steps": steps, "train.seed": seed},
    )
    info = setup_distributed(device)
    try:
        prepare_run_dir(run_dir, cfg, is_main=info.is_main)
        dtype = torch.float64 if cfg.train.dtype == "float64" else torch.float32
        prep, split = load_prepared(cfg, scenario, dtype)
        metrics = fit(cfg, run_dir, prep, split, info.device, resume=resume, info=info)
    finally:
        cleanup_distributed()
    if info.is_main:
        click.echo(
            f"done: step {metrics['steps']}, held-out RMSE {metrics.get('val_rmse', float('nan')):.4f} "  # noqa: E501
            f"(IRI {metrics.get('iri_rmse', float('nan')):.4f})"
        )


@cli.command()
@click.option(
    "--run", "run", type=click.Path(exists=True), required=True, help="Run directory or checkpoint."
)
@scenario_option
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Metrics JSON (default RUN/eval.json).",
)
@click.option(
    "--all-data", is_flag=True, help="Evaluate every observation, not only the held-out hours."
)
@device_option
def evaluate(run, scenario, out, all_data, device) -> None:
    """Held-out log10 Ne RMSE (ionofield vs IRI; in-situ/profile; quiet/storm) against the noisy
    observations and, for simulated scenarios, the noise-free truth; VTEC RMSE; cache speed-up.
    """
    import json

    import numpy as np

    from common.io import atomic_write
    from ionofield.api import load_run
    from ionofield.evaluate import evaluate as run_eval
    from ionofield.evaluate import summary_line
    from ionofield.iri import IRIBackground
    from ionofield.prepare import load_prepared

    cfg, model, _ = load_run(run)
    prep, (_, held) = load_prepared(cfg, scenario)
    idx = np.arange(prep.y.shape[0]) if all_data or held.size == 0 else held
    metrics = run_eval(model, prep, idx, cfg, IRIBackground(cfg.iri), cfg.sim.storm_kp)
    out = (
        Path(out) if out else (Path(run) if Path(run).is_dir() else Path(run).parent) / "eval.json"
    )
    with atomic_write(out) as fh:
        json.dump(metrics, fh, indent=1)
    click.echo(f"{summary_line(metrics)} -> {out}")


def _axis(text: str, name: str):
    import numpy as np

    try:
        a, b, step = (float(v) for v in text.split(":"))
        return np.arange(a, b + 0.5 * step, step)
    except ValueError:
        raise click.BadParameter(f"'{text}' is not START:STOP:STEP", param_hint=name) from None


@cli.command()
@click.option(
    "--run", "run", type=click.Path(exists=True), required=True, help="Run directory or checkpoint."
)
@click.option("--time", "times", multiple=True, required=True, help="UTC time, ISO (repeatable).")
@click.option(
    "--lat", default="-87.5:87.5:2.5", show_default=True, help="Latitudes START:STOP:STEP [deg]."
)
@click.option(
    "--lon", default="-180:180:5", show_default=True, help="Longitudes START:STOP:STEP [deg]."
)
@click.option(
    "--alt", default="100:1000:20", show_default=True, help="Altitudes START:STOP:STEP [km]."
)
@click.option(
    "--out", "out", type=click.Path(dir_okay=False), required=True, help="Output .h5 or .nc."
)
@click.option(
    "--ionex",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the VTEC maps as IONEX.",
)
@device_option
def predict(run, times, lat, lon, alt, out, ionex, device) -> None:
    """Ne on a lat/lon/alt grid at given times (HDF5/netCDF) plus VTEC maps from the field."""
    import datetime as dt

    import numpy as np

    from ionofield.api import load_run, write_prediction
    from ionofield.data import _iso_to_s
    from ionofield.evaluate import field_tec_maps, predict_grid
    from ionofield.iri import IRIBackground

    if Path(out).suffix not in (".h5", ".nc"):
        raise click.BadParameter("must end in .h5 or .nc", param_hint="--out")
    try:
        t = np.array([_iso_to_s(s) for s in times])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--time") from None
    cfg, model, _ = load_run(run)
    grid = (_axis(lat, "--lat"), _axis(lon, "--lon"), _axis(alt, "--alt"))
    bg = IRIBackground(cfg.iri)
    log_ne = predict_grid(model, bg, cfg, grid, t)
    tec = field_tec_maps(model, bg, cfg, t)
    write_prediction(Path(out), cfg, grid, t, log_ne, tec)
    if ionex:
        from ionofield.ionex import IonexMaps, write_ionex
        from ionofield.simulate import IONEX_LAT, IONEX_LON

        epochs = [dt.datetime(1970, 1, 1) + dt.timedelta(seconds=float(s)) for s in t]
        write_ionex(
            ionex, IonexMaps(epochs, IONEX_LAT, IONEX_LON, tec, None, 450.0), "ionofield predict"
        )
    click.echo(f"wrote {out} ({len(t)} times, grid {log_ne.shape[1:]})")


@cli.command()
@click.option(
    "--run",
    "run",
    type=click.Path(exists=True, file_okay=False),
    required=True,
    help="Run directory.",
)
@scenario_option
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False),
    default=None,
    help="Figure folder (default RUN/figures).",
)
@click.option(
    "--alt-km", type=float, default=400.0, show_default=True, help="Altitude of the Ne maps [km]."
)
def plot(run, scenario, out, alt_km) -> None:
    """Figures: Ne maps, profiles vs observations, TEC maps, direction quiver, training curves."""
    from ionofield.api import make_figures

    files = make_figures(
        Path(run), Path(scenario), Path(out) if out else Path(run) / "figures", alt_km
    )
    click.echo("\n".join(str(f) for f in files))


@cli.command()
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False),
    default="runs/demo/ionofield",
    show_default=True,
    help="Folder for the scenario, run, metrics and figures.",
)
@click.option(
    "--steps", type=int, default=None, help="Training steps (default: the demo preset's)."
)
def demo(out, steps) -> None:
    """End to end in ~3 min: simulate a 2-day storm, train, evaluate, plot (all under OUT)."""
    from ionofield.demo import run_demo

    summary = run_demo(Path(out), steps)
    click.echo(summary)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="ionofield")
