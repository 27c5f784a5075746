"""Command-line interface of physx4dct (Click group; subcommands import heavy modules lazily)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from common.options import (
    UserErrorGroup,
    config_options,
    device_option,
    dtype_option,
    run_options,
    seed_option,
    threads_option,
)
from physx4dct import __version__
from physx4dct.fusion import fusion_cli_options, pop_fusion_overrides

_PHANTOM_FLAGS = {
    "views": "phantom.n_views",
    "trace": "phantom.trace",
    "photons": "phantom.photons",
    "phase_noise": "phantom.phase_noise",
    "sparse_stride": "phantom.sparse_stride",
    "drift": "phantom.drift",
    "static": "phantom.static",
    "seed": "phantom.seed",
}


@click.group(cls=UserErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="physx4dct")
@threads_option(default=0)
def cli() -> None:
    """4D respiratory CT from cone-beam projections with radiative Gaussian splatting.

    X²-Gaussian-style 4D Gaussians with a HexPlane deformation field and a learned breathing
    period, optionally fused with the PhysX anchor transformer (--fusion-mode).
    """


def _load_cfg(preset, config_file, sets, overrides):
    from common.config import load_config
    from physx4dct.config import PRESETS_DIR, Config

    return load_config(
        Config,
        preset=preset,
        presets_dir=PRESETS_DIR,
        config_file=config_file,
        overrides=overrides,
        sets=sets,
    )


@cli.command()
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    required=True,
    help="Output scan (.pickle, NAF/X²-Gaussian format).",
)
@config_options
@click.option("--views", type=int, default=None, help="Training projections over the scan.")
@click.option(
    "--trace",
    type=click.Choice(["regular", "irregular"]),
    default=None,
    help="Breathing trace: regular, or irregular period and amplitude.",
)
@click.option(
    "--drift",
    type=float,
    default=None,
    help="Baseline drift over the scan (fraction of the amplitude).",
)
@click.option(
    "--photons",
    type=float,
    default=None,
    help="Incident photons per pixel for Poisson noise (0 = noiseless).",
)
@click.option(
    "--phase-noise",
    type=float,
    default=None,
    help="Robustness variant: std of recorded phase/time errors (fraction of a cycle).",
)
@click.option(
    "--sparse-stride", type=int, default=None, help="Robustness variant: keep every k-th view."
)
@click.option("--static/--breathing", default=None, help="Switch breathing off (3D phantom).")
@seed_option
def phantom(out, preset, config_file, sets, **flags) -> None:
    """Simulate a 60 s continuous cone-beam scan of a breathing XCAT-like thorax."""
    from physx4dct.data import simulate_scan, write_scan

    overrides = {_PHANTOM_FLAGS[k]: v for k, v in flags.items()}
    cfg = _load_cfg(preset, config_file, sets, overrides).phantom
    try:
        scan = simulate_scan(cfg)
    except ValueError as exc:
        raise click.ClickException(f"bad phantom settings: {exc}") from None
    from common.config import to_dict

    scan.meta["config"] = to_dict(cfg)
    write_scan(scan, out)
    click.echo(
        f"wrote {out}: {len(scan.train.angles)} views, {scan.volumes.shape[0]} GT "
        f"phases, mean period {scan.meta['mean_period_s']:.2f} s"
    )


@cli.command()
@click.option(
    "--data", type=click.Path(dir_okay=False), required=True, help="Scan to reconstruct (.pickle)."
)
@run_options
@config_options
@click.option(
    "--model",
    type=click.Choice(["4d", "static"]),
    default=None,
    help="4d (deforming Gaussians) or static (R²-Gaussian 3D fit).",
)
@click.option("--iterations", type=int, default=None, help="Total training iterations.")
@click.option(
    "--period-init",
    type=float,
    default=None,
    help="Initial breathing period (s) of the learned T = exp(tau).",
)
@seed_option
@device_option
@dtype_option
@fusion_cli_options
def train(
    data,
    run_dir,
    resume,
    preset,
    config_file,
    sets,
    model,
    iterations,
    period_init,
    seed,
    device,
    dtype,
    **fusion,
) -> None:
    """Reconstruct one scan; checkpoints, metrics.jsonl and config.yaml go to RUN_DIR."""
    from common.distributed import cleanup_distributed, setup_distributed
    from physx4dct.train import fit

    overrides = {
        "model": model,
        "train.iterations": iterations,
        "seed": seed,
        "dtype": dtype,
        "train.period_init_s": period_init,
        **pop_fusion_overrides(fusion),
    }
    cfg = _load_cfg(preset, config_file, sets, overrides)
    if resume and not (Path(run_dir) / "checkpoints" / "last.pt").is_file():
        raise click.BadParameter(
            f"{run_dir}/checkpoints/last.pt does not exist", param_hint="--resume"
        )
    info = setup_distributed(device)
    try:
        metrics = fit(cfg, run_dir, data, info=info, resume=resume)
    finally:
        cleanup_distributed()
    if info.is_main:
        click.echo(json.dumps({k: v for k, v in metrics.items() if isinstance(v, float)}))


def _scan_and_model(data: str, checkpoint: str):
    from physx4dct.data import read_scan
    from physx4dct.train import load_model

    scan = read_scan(data)
    model, cfg, _ = load_model(checkpoint, scan)
    return scan, model, cfg


@cli.command()
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False),
    required=True,
    help="Trained model (checkpoints/best.pt or last.pt).",
)
@click.option(
    "--data",
    type=click.Path(dir_okay=False),
    required=True,
    help="The scan the model was trained on (.pickle; geometry).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    required=True,
    help="Output .npz with projections (B, H, W), angles and times.",
)
@click.option(
    "--time",
    "times",
    type=float,
    multiple=True,
    required=True,
    help="Acquisition time (s); repeat, or give one per --angle.",
)
@click.option(
    "--angle",
    "angles",
    type=float,
    multiple=True,
    required=True,
    help="Gantry angle (degrees); repeat.",
)
def render(checkpoint, data, out, times, angles) -> None:
    """Render projections of a trained model at given times and gantry angles."""
    import numpy as np
    import torch

    from common.config import to_dict
    from common.io import atomic_path
    from physx4dct.train import render_projection

    if len(times) not in (1, len(angles)):
        raise click.BadParameter("give one --time or one per --angle", param_hint="--time")
    scan, model, cfg = _scan_and_model(data, checkpoint)
    times = list(times) * len(angles) if len(times) == 1 else list(times)
    dt = model.cloud.xyz.dtype
    with torch.no_grad():
        imgs = [
            render_projection(
                model,
                scan.geo,
                torch.tensor(np.radians(a), dtype=dt),
                torch.tensor(t / scan.scan_s, dtype=dt),
            )[0].numpy()
            for a, t in zip(angles, times)
        ]
    with atomic_path(out) as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            projections=np.stack(imgs),
            angles_deg=np.asarray(angles),
            time_s=np.asarray(times),
            config=json.dumps(to_dict(cfg)),
        )
    click.echo(f"wrote {out}: {len(imgs)} projections")


@cli.command()
@click.option(
    "--data",
    type=click.Path(dir_okay=False),
    required=True,
    help="Scan with ground-truth volumes (.pickle).",
)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False),
    default=None,
    help="Trained model to score (omit with --fdk).",
)
@click.option(
    "--fdk",
    "fdk_mode",
    type=click.Choice(["binned", "all"]),
    default=None,
    help="Score an FDK baseline instead of a model.",
)
@click.option(
    "--out", type=click.Path(dir_okay=False), default=None, help="Write the scores as JSON here."
)
def evaluate(data, checkpoint, fdk_mode, out) -> None:
    """PSNR3D/SSIM3D per phase in the X²-Gaussian and the STNF4D conventions."""
    from common.io import atomic_write
    from physx4dct.data import read_scan
    from physx4dct.evaluate import fdk_volumes, model_volumes, score_volumes

    if (checkpoint is None) == (fdk_mode is None):
        raise click.UsageError("give exactly one of --checkpoint or --fdk")
    if checkpoint:
        scan, model, _ = _scan_and_model(data, checkpoint)
        pred = model_volumes(model, scan)
    else:
        scan = read_scan(data)
        pred = fdk_volumes(scan, fdk_mode)
    if scan.volumes is None:
        raise click.ClickException(f"{data}: no ground-truth volumes ('image') to compare with")
    scores = score_volumes(pred, scan.volumes)
    for k, m in enumerate(scores["per_phase"]):
        click.echo(f"phase {k}: " + " ".join(f"{n}={v:.4f}" for n, v in m.items()))
    click.echo("mean:    " + " ".join(f"{n}={v:.4f}" for n, v in scores["mean"].items()))
    if out:
        with atomic_write(out) as handle:
            json.dump(
                {"data": str(data), "checkpoint": checkpoint, "fdk": fdk_mode, **scores},
                handle,
                indent=2,
            )


@cli.command()
@click.option("--checkpoint", type=click.Path(dir_okay=False), required=True, help="Trained model.")
@click.option(
    "--data",
    type=click.Path(dir_okay=False),
    required=True,
    help="Scan with ground truth (.pickle).",
)
@click.option(
    "--out", type=click.Path(file_okay=False), required=True, help="Directory for the PNG figures."
)
def plot(checkpoint, data, out) -> None:
    """Slices GT vs reconstruction per phase, error maps, learned vs true breathing trace."""
    from physx4dct.plots import write_figures

    scan, model, cfg = _scan_and_model(data, checkpoint)
    paths = write_figures(model, scan, out)
    if cfg.fusion.fusion_mode != "hexplane" and model.deformation is not None:
        from physx4dct.fusion_plots import write_fusion_figures

        paths += write_fusion_figures(model.deformation, out)
    for p in paths:
        click.echo(f"wrote {p}")


@cli.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    required=True,
    help="Directory for the scan, runs, scores and figures.",
)
@click.option(
    "--iterations",
    type=int,
    default=400,
    show_default=True,
    help="Training iterations of the 4D model.",
)
@seed_option
def demo(out, iterations, seed) -> None:
    """End to end in ~3 minutes: phantom -> FDK -> 4D Gaussians -> scores -> figures."""
    from physx4dct.demo import run_demo

    run_demo(Path(out), iterations, 0 if seed is None else seed)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="physx4dct")
