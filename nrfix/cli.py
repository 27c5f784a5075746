"""Command-line interface of nrfix: a Click group that parses options and calls ``nrfix.api``.

Subcommands import the library lazily, so ``nrfix --help`` never imports torch. Problems in
what the user gave (file, option, config key, checkpoint) are ``common.errors.UserError``s,
shown by :class:`common.options.UserErrorGroup` as one line.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import click

from common.options import (
    UserErrorGroup,
    allow_config_change_option,
    config_options,
    device_option,
    run_options,
    seed_option,
    threads_option,
)
from nrfix import __version__

CHI_HELP = "Cells with chi below this are excised (punctures) from the norms."


class FiniteRange(click.FloatRange):
    """``click.FloatRange`` that also refuses NaN and infinity (NaN passes every comparison)."""

    name = "float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Convert, check the range, then refuse a non-finite number."""
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


CHI_RANGE = FiniteRange(0.0, 1.0, max_open=True)
LEVEL_OPTION = click.option(
    "--level",
    type=click.IntRange(0),
    default=None,
    help="Refinement level of GRChombo/AMReX inputs (needed when they have several).",
)


@click.group(cls=UserErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nrfix")
@threads_option(default=0)
def cli() -> None:
    """Learned correction of numerical-relativity initial data: a float64 3D residual-attention
    CNN trained against a differentiable CCZ4 Hamiltonian/momentum constraint core.
    """


def _config(
    preset: str | None, config_file: str | None, sets: tuple[str, ...], **overrides: Any
) -> Any:
    from nrfix.api import make_config

    return make_config(preset, config_file=config_file, sets=sets, overrides=overrides)


@cli.command("make-data")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Directory for train_*.h5, val_*.h5, test_*.h5.",
)
@click.option(
    "--family",
    type=click.Choice(["schwarzschild", "kerr_schild", "brill_lindquist", "bowen_york", "mix"]),
    default=None,
    help="Initial-data family (default: the config's, bowen_york).",
)
@config_options
@seed_option
def make_data(
    out_dir: str,
    family: str | None,
    preset: str | None,
    config_file: str | None,
    sets: tuple[str, ...],
    seed: int | None,
) -> None:
    """Generate analytic CCZ4 initial data (random punctures) as nrfix HDF5 files."""
    from common.checkpoint import clean_stale_tmp
    from nrfix.api import write_dataset

    clean_stale_tmp(out_dir)
    cfg = _config(preset, config_file, sets, **{"data.family": family, "data.seed": seed})
    paths = write_dataset(cfg, out_dir)
    click.echo(
        f"wrote {len(paths)} files to {out_dir} (grid {cfg.data.grid}^3, family {cfg.data.family})"
    )


@cli.command()
@config_options
@run_options
@seed_option
@device_option
@click.option(
    "--data",
    "data_dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Directory from `nrfix make-data` (default: generate from the config).",
)
@allow_config_change_option
@click.option(
    "--overwrite",
    is_flag=True,
    help="Start afresh in a RUN_DIR that already holds a run (without it, that is refused).",
)
def train(
    preset: str | None,
    config_file: str | None,
    sets: tuple[str, ...],
    run_dir: str,
    resume: bool,
    seed: int | None,
    device: str,
    data_dir: str | None,
    allow_config_change: bool,
    overwrite: bool,
) -> None:
    """Train the correction network (works under torchrun; SIGTERM saves last.pt).

    Multi-process: python -m common.launch --nproc_per_node=2 -m nrfix train ...
    """
    from nrfix import api

    dev = None if device == "auto" else device
    cfg = _config(preset, config_file, sets, **{"train.seed": seed, "train.device": dev})
    result = api.train(
        cfg,
        run_dir,
        resume=resume,
        allow_config_change=allow_config_change,
        data_dir=data_dir,
        overwrite=overwrite,
    )
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one summary line (rank 0)
        click.echo(
            json.dumps({k: round(v, 6) if isinstance(v, float) else v for k, v in result.items()})
        )


@cli.command()
@click.argument("in_path", metavar="IN", type=click.Path())
@click.argument("out_path", metavar="OUT", type=click.Path(dir_okay=False))
@click.option(
    "--method",
    type=click.Choice(["newton", "learned"]),
    default=None,
    help="newton: the residual-driven prior alone (no checkpoint); learned: a trained "
    "checkpoint. Default: learned with --checkpoint, else newton.",
)
@click.option(
    "--checkpoint",
    type=click.Path(),
    default=None,
    help="Trained checkpoint (best.pt or last.pt); needed by --method learned.",
)
@click.option(
    "--iterations",
    type=click.IntRange(1, 10),
    default=2,
    show_default=True,
    help="newton: Newton iterations (each a coupled conformal-factor + CTT momentum step).",
)
@click.option(
    "--no-momentum",
    is_flag=True,
    help="newton: skip the CTT momentum step (conformal factor only).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Write OUT even if median or RMS |Ham| or ||Mom|| is more than 5% worse than IN.",
)
@click.option(
    "--patch",
    type=click.IntRange(4),
    default=32,
    show_default=True,
    help="learned: core size of the patches the grid is cut into.",
)
@click.option(
    "--halo",
    type=click.IntRange(0),
    default=8,
    show_default=True,
    help="learned: cells of context added around each patch core.",
)
@click.option("--chi-excision", type=CHI_RANGE, default=0.05, show_default=True, help=CHI_HELP)
@click.option(
    "--level",
    type=click.IntRange(0),
    default=None,
    help="Refinement level of a GRChombo/AMReX input (needed when it has several).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["nrfix", "grchombo"]),
    default="nrfix",
    show_default=True,
    help="Output layout.",
)
@device_option
def correct(
    in_path: str, out_path: str, method: str | None, checkpoint: str | None, **opts: Any
) -> None:
    """Correct the initial data in IN (nrfix/GRChombo HDF5 or AMReX plotfile) and write OUT.

    Before and after are measured on IN's cells. If median or RMS |Ham| or ||Mom|| gets more
    than 5% worse, OUT is not written (exit 1) unless --force.
    """
    from common.device import resolve_device
    from nrfix.correct import correct_file, summary_line

    method = method or ("learned" if checkpoint else "newton")
    options = {
        "iterations": opts["iterations"],
        "momentum": not opts["no_momentum"],
        "chi_excision": opts["chi_excision"],
        "patch": opts["patch"],
        "halo": opts["halo"],
        "format": opts["fmt"],
        "level": opts["level"],
    }
    if method == "learned":
        options["device"] = resolve_device(opts["device"])
    cmp = correct_file(in_path, out_path, method, checkpoint, opts["force"], options)
    for line in cmp.get("steps_used", []):
        click.echo(f"{method}: {line}")
    click.echo(f"{method}: {summary_line(cmp)}; wrote {out_path}")
    if cmp["worse"]:
        click.echo("WARNING: written with --force although " + "; ".join(cmp["worse"]), err=True)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--chi-excision", type=CHI_RANGE, default=0.05, show_default=True, help=CHI_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--reference",
    type=click.Path(),
    default=None,
    help="Measure every file on this file's cells (default: the first PATH when the grids match).",
)
@LEVEL_OPTION
def evaluate(
    paths: tuple[str, ...],
    chi_excision: float,
    as_json: bool,
    reference: str | None,
    level: int | None,
) -> None:
    """Report RMS/median |Ham| and ||Mom|| (punctures excised) of one or more data files,
    all on the same cells: those of the first file (the input of a correction) or --reference.
    """
    from nrfix.api import evaluate_files

    rows = evaluate_files(paths, chi_excision, reference, level)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(
        f"{'file':40s} {'RMS|Ham|':>10s} {'med|Ham|':>10s} {'RMS|Mom|':>10s} {'Ham/abs':>10s}"
    )
    for p, r in rows.items():
        click.echo(
            f"{p[-40:]:40s} {r['ham_rms']:10.3e} {r['ham_median']:10.3e} "
            f"{r['mom_rms']:10.3e} {r['ham_rel']:10.3e}"
        )


@cli.command("plot-hist")
@click.argument("before", type=click.Path())
@click.argument("after", type=click.Path(), nargs=-1)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Directory for the PNGs.",
)
@click.option("--chi-excision", type=CHI_RANGE, default=0.05, show_default=True, help=CHI_HELP)
@LEVEL_OPTION
def plot_hist(
    before: str, after: tuple[str, ...], out_dir: str, chi_excision: float, level: int | None
) -> None:
    """Histograms, z-slice heatmaps and the trade-off plot of BEFORE vs each AFTER file."""
    from common.checkpoint import clean_stale_tmp
    from nrfix.api import plot_hist as plot

    clean_stale_tmp(out_dir)
    made = plot(before, after, out_dir, chi_excision, level)
    click.echo("wrote " + ", ".join(str(p) for p in made))


@cli.command()
@click.argument("in_path", metavar="IN", type=click.Path())
@click.argument("out_path", metavar="OUT", type=click.Path(dir_okay=False))
@click.option("--chi-excision", type=CHI_RANGE, default=0.05, show_default=True, help=CHI_HELP)
@click.option(
    "--tol",
    type=FiniteRange(0.0, min_open=True),
    default=1e-10,
    show_default=True,
    help="Newton residual tolerance (max norm).",
)
@LEVEL_OPTION
def solve(in_path: str, out_path: str, chi_excision: float, tol: float, level: int | None) -> None:
    """Classical baseline: Newton solve of the conformal-factor (Lichnerowicz) equation."""
    from nrfix.api import solve_file

    res = solve_file(in_path, out_path, chi_excision, tol, level)
    rep, before, after = res["report"], res["before"], res["after"]
    click.echo(
        f"{rep['newton_steps']} Newton steps, {rep['wall_s']:.1f} s; residual max "
        f"{rep['residual_max']:.2e} (tol {tol:.0e}, {rep['stopped']}); median |Ham| "
        f"{before['ham_median']:.3e} -> {after['ham_median']:.3e}; wrote {out_path}"
    )


@cli.command()
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output directory."
)
@click.option(
    "--steps", type=click.IntRange(1), default=None, help="Training steps (default: the demo's)."
)
def demo(out_dir: str, steps: int | None) -> None:
    """End to end in ~3 minutes: make data, train, correct a held-out grid, evaluate, plot."""
    from nrfix.demo import run_demo

    for line in run_demo(Path(out_dir), steps):
        click.echo(line)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="nrfix")
