"""Command-line interface of fcpredict (Click group; subcommands import heavy modules lazily)."""

from __future__ import annotations

import json
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
from fcpredict import __version__


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


def _matrix(text: str | None):
    if text is None:
        return None
    vals = [int(v) for v in text.replace(",", " ").split()]
    if len(vals) not in (3, 9):
        raise click.BadParameter(f"'{text}' needs 3 or 9 integers", param_hint="--dim")
    return vals if len(vals) == 3 else [vals[0:3], vals[3:6], vals[6:9]]


@cli.command("make-data")
@click.argument("out", type=click.Path(file_okay=False))
@click.option(
    "--n",
    "n_structures",
    type=click.IntRange(1),
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
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
def make_data(out: str, n_structures: int, calculator: str, dim: int, seed: int) -> None:
    """Generate strained/rattled/alloyed fcc supercells labelled with an ASE potential through
    phonopy's displacement workflow (OUT/sNNNN/ phonopy_disp.yaml, FORCE_SETS,
    force_constants.hdf5, energies.json). Offline, no DFT.
    """
    from fcpredict.data import make_dataset

    folders = make_dataset(out, n_structures, seed=seed, calculator=calculator, dim=dim)
    click.echo(f"wrote {len(folders)} phonopy folders to {out}")


@cli.command("train")
@config_options
@run_options
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
def train(preset, config_file, sets, run_dir, resume, device, seed, data_dirs, steps) -> None:
    """Train an energy model on energies, forces and force constants of phonopy folders."""
    from common.config import load_config
    from fcpredict.config import PRESETS_DIR, Config
    from fcpredict.train import fit

    overrides = {
        "seed": seed,
        "train.steps": steps,
        "data.dirs": list(data_dirs) if data_dirs else None,
    }
    cfg = load_config(
        Config,
        preset=preset,
        presets_dir=PRESETS_DIR,
        config_file=config_file,
        overrides=overrides,
        sets=sets,
    )
    if not cfg.data.dirs:
        raise click.UsageError("no training data: give --data DIR (from `fcpredict make-data`)")
    try:
        metrics = fit(cfg, run_dir, device=device, resume=resume)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(metrics))


def _load_structure_phonopy(structure: str, dim):
    from fcpredict.phonopy_io import load_phonopy, make_phonopy, read_structure

    path = Path(structure)
    if path.is_dir() or (path.suffix in (".yaml", ".yml") and dim is None):
        ph = load_phonopy(path, produce_fc=False)
        return make_phonopy(_angstrom_unitcell(ph), ph.supercell_matrix, ph.primitive_matrix)
    unit = read_structure(path)
    if dim is None:
        raise click.BadParameter("a POSCAR needs --dim (supercell matrix)", param_hint="--dim")
    return make_phonopy(unit, dim)


def _angstrom_unitcell(ph):
    from phonopy.structure.atoms import PhonopyAtoms

    from fcpredict.phonopy_io import fc_unit_factor

    length = fc_unit_factor(ph.calculator)[0]
    u = ph.unitcell
    return PhonopyAtoms(
        symbols=u.symbols,
        cell=u.cell * length,
        scaled_positions=u.scaled_positions,
        masses=u.masses,
    )


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
    required=True,
    help="Trained checkpoint (best.pt / last.pt).",
)
@click.option(
    "--dim", default=None, help="Supercell matrix: '2 2 2' or 9 integers (needed for POSCAR)."
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
def predict(structure, output, checkpoint, dim, mode, full_fc, symmetrize, device) -> None:
    """Predict force constants of STRUCTURE (POSCAR with --dim, or a phonopy yaml/folder)."""
    from common.checkpoint import load_checkpoint
    from common.config import to_dict
    from common.device import resolve_device
    from fcpredict.apply import predict_fc
    from fcpredict.phonopy_io import write_prediction
    from fcpredict.train import load_model

    ph = _load_structure_phonopy(structure, _matrix(dim))
    model, cfg = load_model(load_checkpoint(checkpoint), resolve_device(device))
    fc = predict_fc(
        model, ph, cfg.model.cutoff, mode=mode, compact=not full_fc, symmetrize=symmetrize
    )
    meta = {
        "checkpoint": str(checkpoint),
        "structure": str(structure),
        "mode": mode,
        "symmetrize": symmetrize,
        "config": to_dict(cfg),
        "version": __version__,
    }
    files = write_prediction(output, ph, fc, meta)
    click.echo("wrote " + ", ".join(str(f) for f in files))


@cli.command("evaluate")
@click.argument("prediction", type=click.Path(exists=True))
@click.argument("reference", type=click.Path(exists=True))
@click.option("--mesh", default="8 8 8", show_default=True, help="q mesh for the frequency MAE.")
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the metrics to this JSON file.",
)
def evaluate(prediction, reference, mesh, json_out) -> None:
    """Compare PREDICTION (phonopy.yaml written by `predict`, or its folder) with REFERENCE
    (phonopy folder/yaml with FORCE_SETS or force constants): Phi MAE and relative Frobenius
    error, frequency MAE on a mesh and the band path, symmetry/ASR errors, negative modes.
    """
    from common.io import atomic_write
    from fcpredict.apply import phonon_metrics
    from fcpredict.phonopy_io import FcInputError, load_phonopy

    pred, ref = load_phonopy(prediction), load_phonopy(reference)
    if len(pred.supercell) != len(ref.supercell):
        raise FcInputError(
            f"{prediction}: supercell of {len(pred.supercell)} atoms, reference "
            f"{reference} has {len(ref.supercell)}"
        )
    metrics = phonon_metrics(pred, ref, mesh=[int(v) for v in mesh.split()])
    if json_out:
        with atomic_write(json_out) as fh:
            json.dump(metrics, fh, indent=2)
    for k, v in metrics.items():
        click.echo(f"{k:30s} {v:.6g}" if isinstance(v, float) else f"{k:30s} {v}")


@cli.command("plot")
@click.argument("prediction", type=click.Path(exists=True))
@click.argument("reference", type=click.Path(exists=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="PNG file.")
def plot(prediction, reference, output) -> None:
    """Phonon bands and DOS of PREDICTION vs REFERENCE (through phonopy) into a PNG."""
    from fcpredict.phonopy_io import load_phonopy
    from fcpredict.plots import plot_bands_dos

    pred, ref = load_phonopy(prediction), load_phonopy(reference)
    click.echo(f"wrote {plot_bands_dos(pred, ref, output, title=Path(reference).name)}")


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
def demo(out, steps, device) -> None:
    """End to end on built-in data: make-data (EMT) -> train -> predict -> evaluate -> plot."""
    from fcpredict.demo import run_demo

    summary = run_demo(Path(out), steps=steps, device=device)
    click.echo(json.dumps(summary, indent=2))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="fcpredict")
