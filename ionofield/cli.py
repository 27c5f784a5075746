"""Command-line interface of ionofield: parses options and calls :mod:`ionofield.api`.

Heavy imports (torch, numpy, the science modules) happen inside the commands, so ``--help``
is instant. Library errors (:class:`common.errors.UserError`) become one line, exit 1.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from common.options import (
    UserErrorGroup,
    allow_config_change_option,
    config_options,
    device_option,
    fixed_seed_option,
    run_options,
    seed_option,
    threads_option,
)
from ionofield import __version__

scenario_option = click.option(
    "--scenario",
    type=click.Path(exists=True, file_okay=False),
    required=True,
    help="Scenario folder (observations + tec/; from `ionofield simulate`).",
)
run_option = click.option(
    "--run", "run", type=click.Path(exists=True), required=True, help="Run directory or checkpoint."
)


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """Refuse NaN and infinities (click.FloatRange lets NaN through)."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


@click.group(cls=UserErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ionofield")
@threads_option(default=0)
def cli() -> None:
    """Ionospheric electron density = IRI background + learned residual (R-STMRF)."""


def _cfg(preset: str | None, config_file: str | None, sets: tuple, overrides: dict) -> Any:
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
@click.option(
    "--days",
    type=click.IntRange(1, 366),
    default=None,
    help="Number of days, 1-366 (default: the config's).",
)
@config_options
@seed_option
def simulate(
    out_dir: str,
    start: str | None,
    days: int | None,
    preset: str | None,
    config_file: str | None,
    sets: tuple[str, ...],
    seed: int | None,
) -> None:
    """Simulate a scenario: truth = IRI + storm + TIDs; FY-3D in-situ + RO data; IONEX TEC maps."""
    from ionofield.api import simulate as run

    cfg = _cfg(preset, config_file, sets, {"sim.start": start, "sim.days": days, "sim.seed": seed})
    meta = run(cfg, out_dir)
    click.echo(f"scenario {meta['start']} + {meta['days']} d written to {out_dir}")


@cli.command()
@click.option(
    "--scenario",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Scenario folder (observations + tec/); default: the config's data.scenario.",
)
@click.option(
    "--cpu-optimized", is_flag=True, help="The 'cpu' preset: batch 512, seq_len 4, smaller nets."
)
@click.option(
    "--steps",
    type=click.IntRange(1),
    default=None,
    help="Optimizer steps, >= 1 (default: the config's).",
)
@config_options
@run_options
@allow_config_change_option
@device_option
@seed_option
def train(
    scenario: str | None,
    cpu_optimized: bool,
    steps: int | None,
    preset: str | None,
    config_file: str | None,
    sets: tuple[str, ...],
    run_dir: str,
    resume: bool,
    allow_config_change: bool,
    device: str,
    seed: int | None,
) -> None:
    """Train the residual field on a scenario (works under torchrun; rank 0 writes)."""
    from ionofield.api import fit

    if cpu_optimized and preset:
        raise click.BadParameter(
            "use either --cpu-optimized or --preset", param_hint="--cpu-optimized"
        )
    overrides = {"train.steps": steps, "train.seed": seed}
    if scenario is not None:
        overrides["data.scenario"] = str(Path(scenario).resolve())
    cfg = _cfg("cpu" if cpu_optimized else preset, config_file, sets, overrides)
    metrics = fit(
        cfg, run_dir, device=device, resume=resume, allow_config_change=allow_config_change
    )
    if "steps" in metrics and _is_main():
        val, iri = metrics.get("val_rmse", float("nan")), metrics.get("iri_rmse", float("nan"))
        click.echo(f"done: step {metrics['steps']}, held-out RMSE {val:.4f} (IRI {iri:.4f})")


def _is_main() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


@cli.command()
@run_option
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
def evaluate(run: str, scenario: str, out: str | None, all_data: bool, device: str) -> None:
    """Held-out log10 Ne RMSE (ionofield vs IRI; in-situ/profile; quiet/storm) against the noisy
    observations and, for simulated scenarios, the noise-free truth; VTEC RMSE.
    """
    from ionofield.api import evaluate_run
    from ionofield.evaluate import summary_line

    metrics, path = evaluate_run(run, scenario, out=out, all_data=all_data, device=device)
    click.echo(f"[{metrics['split']}] {summary_line(metrics)} -> {path}")


@cli.command()
@run_option
@click.option("--time", "times", multiple=True, required=True, help="UTC time, ISO (repeatable).")
@click.option(
    "--lat",
    default="-87.5:87.5:2.5",
    show_default=True,
    help="Latitudes START:STOP:STEP [deg], within [-90, 90].",
)
@click.option(
    "--lon", default="-180:180:5", show_default=True, help="Longitudes START:STOP:STEP [deg]."
)
@click.option(
    "--alt", default="100:1000:20", show_default=True, help="Altitudes START:STOP:STEP [km], >= 0."
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
def predict(
    run: str,
    times: tuple[str, ...],
    lat: str,
    lon: str,
    alt: str,
    out: str,
    ionex: str | None,
    device: str,
) -> None:
    """Ne on a lat/lon/alt grid at given times (HDF5/netCDF) plus VTEC maps from the field."""
    from ionofield.api import parse_axis, parse_times, predict_to_file

    if Path(out).suffix not in (".h5", ".nc"):
        raise click.BadParameter("must end in .h5 or .nc", param_hint="--out")
    t = parse_times(times)
    grid = (parse_axis(lat, "--lat"), parse_axis(lon, "--lon"), parse_axis(alt, "--alt"))
    shape = predict_to_file(run, t, grid, out, ionex=ionex, device=device)
    click.echo(f"wrote {out} ({len(t)} times, grid {shape})")


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
    "--alt-km",
    type=click.FloatRange(0, 100_000),
    default=400.0,
    show_default=True,
    callback=_finite,
    help="Altitude of the Ne maps [km].",
)
def plot(run: str, scenario: str, out: str | None, alt_km: float) -> None:
    """Figures: Ne maps, profiles vs observations, TEC maps, direction quiver, training curves."""
    from ionofield.api import make_figures

    files = make_figures(run, scenario, out or Path(run) / "figures", alt_km)
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
    "--steps",
    type=click.IntRange(1),
    default=None,
    help="Training steps, >= 1 (default: the demo preset's).",
)
def demo(out: str, steps: int | None) -> None:
    """End to end in ~3 min: simulate a 2-day storm, train, evaluate, plot (all under OUT)."""
    from ionofield.demo import run_demo  # the demo is a script over the api, not part of it

    click.echo(run_demo(Path(out), steps))


_gim_path = click.Path(exists=True, dir_okay=False)


@cli.command()
@click.argument("gims", nargs=-1, required=True, type=_gim_path)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False), help="IONEX file for day D+1."
)
@click.option(
    "--seed",
    "seeds",
    type=click.IntRange(0),
    multiple=True,
    help="Seeds (repeatable; default 0 1 2).",
)
@click.option("--steps", type=click.IntRange(1), default=None, help="Optimizer steps per fit.")
def forecast(gims: tuple[str, ...], out: str, seeds: tuple[int, ...], steps: int | None) -> None:
    """Day-ahead VTEC maps: learn from the GIMs of consecutive days <= D, write day D+1."""
    from ionofield.api import run_forecast

    s = run_forecast(gims, out, seeds or (0, 1, 2), steps)
    how = s["chosen"] if s["trained"] else "one day: prior x that day's GIM/prior, nothing learned"
    click.echo(f"forecast for {s['target_day']} ({how}) written to {out}")


@cli.command()
@click.argument("gim", type=_gim_path, required=False)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@fixed_seed_option("Seed of the fit.")
@click.option("--steps", type=click.IntRange(1), default=None, help="Optimizer steps.")
@click.option(
    "--obs",
    type=_gim_path,
    default=None,
    help="Observation table (profiles / in-situ, e.g. from ingest-ro) fitted with the map.",
)
def nowcast(gim: str | None, out: str, seed: int, steps: int | None, obs: str | None) -> None:
    """Fit one day's GIM (RMS-weighted) and/or --obs points: write field.h5, vtec.i and
    residuals.json (per observation type) to OUT. Without a GIM the field is IRI plus the
    optimal interpolation of the points (deterministic: --seed and --steps are not used).
    """
    from ionofield.api import run_nowcast

    r = run_nowcast(gim, out, seed, steps, obs=obs)
    parts = []
    if "rmse_tecu" in r:
        parts.append(f"GIM fit RMSE {r['rmse_tecu']:.2f} TECU ({100 * r['within_rms']:.0f}% of "
                     "cells within the GIM RMS)")  # fmt: skip
    parts += [f"{k} log10 RMSE {r[k]['rmse_log10']:.3f}" for k in ("profile", "insitu") if k in r]
    click.echo(f"nowcast written to {out}: " + ", ".join(parts))


@cli.command("ingest-ro")
@click.argument("files", nargs=-1, required=True, type=_gim_path)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="HDF5 table to write.")
def ingest_ro(files: tuple[str, ...], out: str) -> None:
    """COSMIC-2 ionPrf profiles of any date -> an observation table with IRI at their times."""
    from ionofield.api import ingest_ro as run

    r = run(files, out)
    click.echo(f"{r['rows']} points of {r['profiles']} profiles written to {out}")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="ionofield")
