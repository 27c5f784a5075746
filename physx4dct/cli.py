"""Command-line interface of physx4dct: a thin Click layer over `physx4dct.api`.

Nothing heavy is imported here (no torch, no numpy): each command imports what it needs,
so ``physx4dct --help`` is instant. Fusion settings are config keys (``--set fusion.x=v``
or a preset), only the mode has its own option (``--fusion-mode``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from common.options import (
    F,
    UserErrorGroup,
    allow_config_change_option,
    config_options,
    device_option,
    dtype_option,
    run_options,
    seed_option,
    threads_option,
)
from physx4dct import __version__
from physx4dct.config import FUSION_MODES

if TYPE_CHECKING:
    from physx4dct.config import Config

_PHANTOM_FLAGS = {
    "views": "phantom.n_views",
    "trace": "phantom.trace",
    "photons": "phantom.photons",
    "phase_noise": "phantom.phase_noise",
    "sparse_stride": "phantom.sparse_stride",
    "drift": "phantom.drift",
    "static": "phantom.static",
    "seed": "phantom.seed",
    "oversample": "phantom.oversample",
}
_LAYOUT_OPTION = click.option(
    "--layout",
    type=click.Choice(["auto", "x2", "naf", "stnf", "native"]),
    default="auto",
    show_default=True,
    help="Layout of the --data pickle (X²-Gaussian, NAF, STNF4D, physx4dct native).",
)


class Finite(click.ParamType):
    """A float that must be finite (no NaN/inf) and within [lo, hi] (open at ``lo`` if asked)."""

    name = "float"

    def __init__(self, lo: float = -math.inf, hi: float = math.inf, lo_open: bool = False) -> None:
        self.lo, self.hi, self.lo_open = lo, hi, lo_open

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        """Parse and check one value."""
        try:
            out = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        low_ok = out > self.lo if self.lo_open else out >= self.lo
        if not (math.isfinite(out) and low_ok and out <= self.hi):
            side = "(" if self.lo_open else "["
            self.fail(f"{value!r} is not a finite number in {side}{self.lo:g}, {self.hi:g}]")
        return out


@click.group(cls=UserErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="physx4dct")
@threads_option(default=0)
def cli() -> None:
    """4D respiratory CT from cone-beam projections with radiative Gaussian splatting.

    X²-Gaussian-style 4D Gaussians with a HexPlane deformation field and a learned breathing
    period, optionally fused with the PhysX anchor transformer (--fusion-mode).
    """


def _load_cfg(
    preset: str | None, config_file: str | None, sets: tuple[str, ...], overrides: dict
) -> Config:
    from physx4dct.api import load_config

    return load_config(preset, config_file, sets, overrides)


@cli.command()
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Output scan.")
@config_options
@click.option("--views", type=click.IntRange(1), help="Training projections over the scan.")
@click.option(
    "--trace",
    type=click.Choice(["regular", "irregular"]),
    help="Breathing trace: regular, or irregular period and amplitude.",
)
@click.option("--drift", type=Finite(), help="Baseline drift (fraction of the amplitude).")
@click.option("--photons", type=Finite(0), help="Photons per pixel (0 = noiseless).")
@click.option("--phase-noise", type=Finite(0), help="Std of recorded phase errors (cycles).")
@click.option("--sparse-stride", type=click.IntRange(1), help="Keep every k-th view.")
@click.option("--static/--breathing", default=None, help="Switch breathing off (3D phantom).")
@click.option(
    "--oversample", type=click.IntRange(1), help="Project a k-times finer grid (no inverse crime)."
)
@click.option(
    "--layout",
    type=click.Choice(["x2", "naf", "stnf", "native"]),
    default="x2",
    show_default=True,
    help="Pickle layout written (x2 is read by X²-Gaussian as is; naf holds static scans).",
)
@seed_option
def phantom(
    out: str,
    preset: str | None,
    config_file: str | None,
    sets: tuple[str, ...],
    layout: str,
    **flags: Any,
) -> None:
    """Simulate a 60 s continuous cone-beam scan of a breathing XCAT-like thorax."""
    from physx4dct.api import simulate_phantom

    overrides = {_PHANTOM_FLAGS[k]: v for k, v in flags.items()}
    cfg = _load_cfg(preset, config_file, sets, overrides).phantom
    scan = simulate_phantom(cfg, out, layout)
    click.echo(
        f"wrote {out}: {len(scan.train.angles)} views, {scan.volumes.shape[0]} GT "
        f"phases, mean period {scan.meta['mean_period_s']:.2f} s"
    )


@cli.command()
@click.option("--data", type=click.Path(dir_okay=False), required=True, help="Scan to fit.")
@run_options
@allow_config_change_option
@config_options
@click.option(
    "--fusion-mode",
    type=click.Choice(FUSION_MODES),
    help="Deformation: hexplane, anchor, or a fusion of both; its settings are "
    "fusion.* keys (--set fusion.alpha=0.985).",
)
@click.option("--model", type=click.Choice(["4d", "static"]), help="4d or static (3D fit).")
@click.option("--iterations", type=click.IntRange(1), help="Total training iterations.")
@click.option("--period-init", type=Finite(0, lo_open=True), help="Initial breathing period (s).")
@seed_option
@device_option
@dtype_option
@click.option(
    "--rasterizer",
    type=click.Choice(["torch", "cuda"]),
    help="Projector: torch splatter (default) or R²-Gaussian's CUDA X-ray rasterizer.",
)
@_LAYOUT_OPTION
def train(
    data: str,
    run_dir: str,
    resume: bool,
    allow_config_change: bool,
    preset: str | None,
    config_file: str | None,
    sets: tuple[str, ...],
    fusion_mode: str | None,
    model: str | None,
    iterations: int | None,
    period_init: float | None,
    seed: int | None,
    device: str,
    dtype: str | None,
    rasterizer: str | None,
    layout: str,
) -> None:
    """Reconstruct one scan into RUN_DIR (config.yaml, metrics.jsonl, checkpoints/).

    Every config key can be set with --set (see `physx4dct/presets/*.yaml` and the docs).
    """
    from physx4dct.api import fit

    overrides = {
        "data.path": data,
        "model": model,
        "train.iterations": iterations,
        "seed": seed,
        "dtype": dtype,
        "train.period_init_s": period_init,
        "fusion.fusion_mode": fusion_mode,
        "train.rasterizer": rasterizer,
        "data.layout": None if layout == "auto" else layout,
    }
    cfg = _load_cfg(preset, config_file, sets, overrides)
    metrics = fit(
        cfg, run_dir, device=device, resume=resume, allow_config_change=allow_config_change
    )
    if os.environ.get("RANK", "0") == "0":
        click.echo(json.dumps({k: v for k, v in metrics.items() if isinstance(v, float)}))


def _checkpoint_option(required: bool = True) -> Callable[[F], F]:
    return click.option(
        "--checkpoint",
        type=click.Path(dir_okay=False),
        required=required,
        help="Trained model (RUN_DIR/checkpoints/best.pt or last.pt).",
    )


@cli.command()
@_checkpoint_option()
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Output .npz.")
@click.option(
    "--time",
    "times",
    type=Finite(0),
    multiple=True,
    required=True,
    help="Acquisition time (s); repeat, or give one per --angle.",
)
@click.option(
    "--angle", "angles", type=Finite(), multiple=True, required=True, help="Gantry angle (deg)."
)
def render(checkpoint: str, out: str, times: tuple[float, ...], angles: tuple[float, ...]) -> None:
    """Render projections (B, H, W) of a trained model at given times and gantry angles."""
    import numpy as np

    from common.config import to_dict
    from common.io import atomic_path
    from physx4dct.api import load_model
    from physx4dct.api import render as render_views

    model, cfg = load_model(checkpoint)
    imgs = render_views(model, times, angles)
    times = list(times) * len(angles) if len(times) == 1 else list(times)
    with atomic_path(out) as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            projections=imgs,
            angles_deg=np.asarray(angles),
            time_s=np.asarray(times),
            config=json.dumps(to_dict(cfg)),
        )
    click.echo(f"wrote {out}: {len(imgs)} projections")


@cli.command()
@click.option("--data", type=click.Path(dir_okay=False), required=True, help="Scan with GT.")
@_checkpoint_option(required=False)
@click.option(
    "--fdk",
    "fdk_mode",
    type=click.Choice(["binned", "all"]),
    help="Score an FDK baseline instead of a model.",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write the scores as JSON here.")
@_LAYOUT_OPTION
def evaluate(
    data: str, checkpoint: str | None, fdk_mode: str | None, out: str | None, layout: str
) -> None:
    """PSNR3D/SSIM3D per phase in the X²-Gaussian and the STNF4D conventions; tumour and
    diaphragm errors (mm) when the scan holds the phantom's motion truth.
    """
    from common.io import atomic_write
    from physx4dct import api

    if (checkpoint is None) == (fdk_mode is None):
        raise click.UsageError("give exactly one of --checkpoint or --fdk")
    scan = api.read_scan(data, layout)
    model = api.load_model(checkpoint)[0] if checkpoint else None
    scores = api.evaluate(scan, model, fdk_mode)
    for k, m in enumerate(scores["per_phase"]):
        click.echo(f"phase {k}: " + " ".join(f"{n}={v:.4f}" for n, v in m.items()))
    click.echo("mean:    " + " ".join(f"{n}={v:.4f}" for n, v in scores["mean"].items()))
    if "motion" in scores:
        m = scores["motion"]
        click.echo(
            f"motion:  tumour RMS {m['tumour_rms_mm']:.2f} mm, diaphragm RMS "
            f"{m['diaphragm_rms_mm']:.2f} mm (voxel {m['voxel_mm']:.2f} mm)"
        )
    if out:
        record = {"data": str(data), "checkpoint": checkpoint, "fdk": fdk_mode, **scores}
        with atomic_write(out) as handle:
            json.dump(record, handle, indent=2)


@cli.command()
@_checkpoint_option()
@click.option("--data", type=click.Path(dir_okay=False), required=True, help="Scan with GT.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="PNG directory.")
@_LAYOUT_OPTION
def plot(checkpoint: str, data: str, out: str, layout: str) -> None:
    """Slices GT vs reconstruction per phase, learned vs true breathing, fusion maps."""
    from physx4dct import api

    scan = api.read_scan(data, layout)
    model, cfg = api.load_model(checkpoint)
    for p in api.plot(model, scan, cfg, out):
        click.echo(f"wrote {p}")


@cli.command()
@click.option("--data", type=click.Path(dir_okay=False), required=True, help="Scan (geometry).")
@_checkpoint_option(required=False)
@click.option(
    "--fdk", "fdk_mode", type=click.Choice(["binned", "all"]), help="Export an FDK baseline."
)
@click.option("--out", type=click.Path(file_okay=False), required=True, help="New directory.")
@click.option(
    "--format",
    "formats",
    type=click.Choice(["nifti", "dicom"]),
    multiple=True,
    default=("nifti", "dicom"),
    show_default=True,
    help="Repeat for both.",
)
@_LAYOUT_OPTION
def export(
    data: str,
    checkpoint: str | None,
    fdk_mode: str | None,
    out: str,
    formats: tuple[str, ...],
    layout: str,
) -> None:
    """Volumes per phase (model, FDK, or the scan's ground truth) as NIfTI and DICOM series."""
    from physx4dct import api
    from physx4dct.export import export_volumes, reconstruction_volumes

    if checkpoint and fdk_mode:
        raise click.UsageError("give at most one of --checkpoint or --fdk")
    scan = api.read_scan(data, layout)
    model = api.load_model(checkpoint)[0] if checkpoint else None
    vols = reconstruction_volumes(scan, model, fdk_mode)
    files = export_volumes(vols, scan.geo, out, formats)
    click.echo(f"wrote {len(files)} files for {len(vols)} phases into {out}")


@cli.command()
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option(
    "--iterations", type=click.IntRange(8), default=400, show_default=True, help="4D iterations."
)
@seed_option
def demo(out: str, iterations: int, seed: int | None) -> None:
    """End to end in ~3 minutes: phantom -> FDK -> 4D Gaussians -> scores -> figures."""
    from physx4dct.demo import run_demo

    run_demo(Path(out), iterations, 0 if seed is None else seed, echo=click.echo)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="physx4dct")
