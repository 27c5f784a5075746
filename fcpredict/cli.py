"""Command-line interface of fcpredict: a thin Click layer over :mod:`fcpredict.api`.

Each command parses its options and calls the facade; heavy modules (torch, phonopy) are
imported inside the commands so ``fcpredict --help`` stays instant. Library errors
(:class:`common.errors.UserError`) become one line and a non-zero exit in
:class:`common.options.UserErrorGroup`.
"""

from __future__ import annotations

import json
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
from fcpredict import __version__
from fcpredict.backbone_names import BACKBONE_NAMES


@click.group(cls=UserErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fcpredict")
@threads_option(
    default=1,
    minimum=1,
    envvar="FCPREDICT_THREADS",
    note="The graphs are small: more threads rarely help, and on a busy machine "
    "they can be 10-50x slower.",
)
def cli() -> None:
    """Force constants as exact second derivatives of an E(3)-equivariant graph-network energy;
    reads and writes phonopy files.
    """


def _checked(parse: str) -> Any:
    """A Click callback running ``fcpredict.api.<parse>`` on the option's text."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        from common.errors import UserError
        from fcpredict import api

        if value is None:
            return None
        try:
            return getattr(api, parse)(value, name=f"--{param.name}")
        except UserError as exc:
            raise click.BadParameter(str(exc).split(": ", 1)[-1]) from None

    return callback


_BACKBONES = click.Choice(BACKBONE_NAMES)
"""Pretrained backbones (from the torch-free fcpredict.backbone_names, so --help needs no torch)."""


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """Refuse NaN (click's FloatRange lets it through: every comparison with NaN is false)."""
    if value is not None and value != value:
        raise click.BadParameter("nan is not a number")
    return value


@cli.command("make-data")
@click.argument("out", type=click.Path(file_okay=False))
@click.option(
    "--n",
    "n_structures",
    type=click.IntRange(1, 100000),
    default=24,
    show_default=True,
    help="Number of structures (one phonopy folder each).",
)
@click.option(
    "--calculator",
    type=click.Choice(["emt", "lj", "morse"]),
    default="emt",
    show_default=True,
    help="ASE classical potential that labels the structures.",
)
@click.option(
    "--dim",
    type=click.IntRange(1, 4),
    default=2,
    show_default=True,
    help="Supercell = dim x dim x dim conventional fcc cells (4 atoms each).",
)
@fixed_seed_option("Random seed.")
def make_data(out: str, n_structures: int, calculator: str, dim: int, seed: int) -> None:
    """Generate strained/rattled/alloyed fcc supercells labelled with an ASE potential through
    phonopy's displacement workflow (OUT/sNNNN/ phonopy_disp.yaml, FORCE_SETS,
    force_constants.hdf5, energies.json). Offline, no DFT.
    """
    from fcpredict import api

    folders = api.make_data(out, n_structures, seed=seed, calculator=calculator, dim=dim)
    click.echo(f"wrote {len(folders)} phonopy folders to {out}")


@cli.command("train")
@config_options
@run_options
@allow_config_change_option
@device_option
@seed_option
@click.option(
    "--data",
    "data_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="Phonopy folder or parent of phonopy folders (repeatable).",
)
@click.option("--steps", type=click.IntRange(1), default=None, help="Optimizer steps.")
def train(
    preset: str | None,
    config_file: str | None,
    sets: tuple[str, ...],
    run_dir: str,
    resume: bool,
    allow_config_change: bool,
    device: str,
    seed: int | None,
    data_dirs: tuple[str, ...],
    steps: int | None,
) -> None:
    """Train an energy model on energies, forces and force constants of phonopy folders.

    Works the same under `python -m common.launch --nproc_per_node=N -m fcpredict train ...`.
    """
    from fcpredict import api

    overrides = {
        "seed": seed,
        "train.steps": steps,
        "data.dirs": list(data_dirs) if data_dirs else None,
    }
    cfg = api.load_config(preset, config_file, overrides, sets)
    metrics = api.fit(
        cfg, run_dir, device=device, resume=resume, allow_config_change=allow_config_change
    )
    click.echo(json.dumps(metrics))


@cli.command("predict")
@click.argument("structure", type=click.Path(exists=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    required=True,
    help="FORCE_CONSTANTS file to write (force_constants.hdf5 and phonopy.yaml go beside it).",
)
@click.option(
    "--checkpoint",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Trained or fine-tuned checkpoint (best.pt / last.pt); its predictor weights are used.",
)
@click.option(
    "--backbone",
    type=_BACKBONES,
    default=None,
    help="Without --checkpoint: use this pretrained backbone as is (no training; weights "
    "inside the sevenn wheel): sevennet-0 (SevenNet-0, lmax 2), sevennet-l3i5 (lmax 3, "
    "slower), sevennet-mf-0 (multi-fidelity SevenNet-MF-0, PBE head), sevennet-mf-0-r2scan "
    "(its r2SCAN head, for r2SCAN references and geometries), sevennet-0-22may2024 (the first "
    "SevenNet-0 release).",
)
@click.option(
    "--dim",
    default=None,
    callback=_checked("parse_matrix"),
    help="Supercell matrix: '2 2 2' or 9 integers (needed for POSCAR).",
)
@click.option(
    "--mode",
    type=click.Choice(["primitive", "independent", "full"]),
    default="primitive",
    show_default=True,
    help="Hessian rows computed: primitive atoms, symmetry-independent atoms, or all.",
)
@click.option(
    "--full", "full_fc", is_flag=True, help="Write the full (N,N,3,3) array, not compact."
)
@click.option("--symmetrize", is_flag=True, help="Enforce index symmetry and acoustic sum rule.")
@device_option
def predict(
    structure: str,
    output: str,
    checkpoint: str | None,
    backbone: str | None,
    dim: Any,
    mode: str,
    full_fc: bool,
    symmetrize: bool,
    device: str,
) -> None:
    """Predict force constants of STRUCTURE (POSCAR with --dim, or a phonopy yaml/folder)."""
    from fcpredict import api

    ph, fc, meta = api.predict(
        structure,
        checkpoint,
        backbone=backbone,
        dim=dim,
        mode=mode,
        full=full_fc,
        symmetrize=symmetrize,
        device=device,
    )
    files = api.write_prediction(output, ph, fc, meta)
    click.echo("wrote " + ", ".join(str(f) for f in files))


@cli.command("finetune")
@click.option(
    "--data",
    "data_dirs",
    multiple=True,
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Training phonopy folder (FORCE_SETS / FORCE_CONSTANTS), or a parent (repeatable).",
)
@click.option(
    "--val",
    "val_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="Validation folder for early stopping; never the material you test on (repeatable).",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), required=True, help="Checkpoint to write."
)
@click.option("--steps", type=click.IntRange(1), default=None, help="Optimizer steps [30].")
@click.option(
    "--lr",
    type=click.FloatRange(0, 1, min_open=True),
    default=None,
    callback=_finite,
    help="Learning rate (0 < lr <= 1) [2e-4].",
)
@click.option(
    "--trainable",
    type=click.Choice(["all", "last", "radial"]),
    default=None,
    help="Parameters to fine-tune [all].",
)
@click.option(
    "--backbone",
    type=_BACKBONES,
    default="sevennet-0",
    help="Backbone to fine-tune (predict --help) [sevennet-0].",
)
@fixed_seed_option("Random seed of the fine-tuning (Hessian probes, material order).")
def finetune(
    data_dirs: tuple[str, ...], val_dirs: tuple[str, ...], output: str, steps: int | None,
    lr: float | None, trainable: str | None, backbone: str, seed: int,
) -> None:  # fmt: skip
    """Fine-tune a pretrained backbone (SevenNet-0 by default) on DFT force constants
    (Hessian-vector products, force co-training, early stopping on --val); `predict
    --checkpoint OUTPUT` then uses it.
    """
    from fcpredict import api

    out = api.finetune(
        data_dirs, val_dirs, output, steps=steps, lr=lr, trainable=trainable, seed=seed,
        backbone=backbone,
    )  # fmt: skip
    click.echo(json.dumps(out))


@cli.command("evaluate")
@click.argument("prediction", type=click.Path(exists=True))
@click.argument("reference", type=click.Path(exists=True))
@click.option(
    "--mesh",
    default="8 8 8",
    show_default=True,
    callback=_checked("parse_mesh"),
    help="q mesh for the frequency MAE.",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the metrics to this JSON file.",
)
def evaluate(prediction: str, reference: str, mesh: list[int], json_out: str | None) -> None:
    """Compare PREDICTION (phonopy.yaml written by `predict`, or its folder) with REFERENCE
    (phonopy folder/yaml with FORCE_SETS or force constants): Phi MAE and relative Frobenius
    error, frequency MAE on a mesh and the band path, symmetry/ASR errors, negative modes.
    """
    from common.io import atomic_write
    from fcpredict import api

    metrics = api.evaluate(prediction, reference, mesh=mesh)
    if json_out:
        with atomic_write(json_out) as fh:
            json.dump(metrics, fh, indent=2)
    for k, v in metrics.items():
        click.echo(f"{k:30s} {v:.6g}" if isinstance(v, float) else f"{k:30s} {v}")


@cli.command("plot")
@click.argument("prediction", type=click.Path(exists=True))
@click.argument("reference", type=click.Path(exists=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="PNG file.")
def plot(prediction: str, reference: str, output: str) -> None:
    """Phonon bands and DOS of PREDICTION vs REFERENCE (through phonopy) into a PNG."""
    from fcpredict import api

    click.echo(f"wrote {api.plot(prediction, reference, output)}")


@cli.command("demo")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option(
    "--steps",
    type=click.IntRange(1),
    default=200,
    show_default=True,
    help="Training steps (200: about 2-3 minutes on 2 busy CPU cores).",
)
@device_option
def demo(out: str, steps: int, device: str) -> None:
    """End to end on built-in data: make-data (EMT) -> train -> predict -> evaluate -> plot."""
    from fcpredict import api

    summary = api.run_demo(Path(out), steps=steps, device=device)
    click.echo(json.dumps(summary, indent=2))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="fcpredict")
