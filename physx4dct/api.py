"""The library facade of physx4dct: what a notebook user imports, and what the CLI calls.

>>> from physx4dct import api
>>> cfg = api.load_config(preset="tiny", sets=["fusion.fusion_mode=fixed_alpha"])
>>> api.simulate_phantom(cfg.phantom, "scan.pickle")          # doctest: +SKIP
>>> api.fit(cfg, "run", data="scan.pickle")                    # doctest: +SKIP
>>> model, cfg = api.load_model("run/checkpoints/last.pt")     # doctest: +SKIP
>>> proj = api.render(model, times_s=[10.0], angles_deg=[0.0]) # doctest: +SKIP

Every function raises `common.errors.UserError` for a problem the user can fix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.config import load_config as _load_config
from common.config import to_dict
from common.errors import UserError
from physx4dct.config import FUSION_MODES, PRESETS_DIR, Config, FusionConfig, PhantomConfig

if TYPE_CHECKING:
    import numpy as np

    from physx4dct.data import Scan
    from physx4dct.model import Model4D

__all__ = [
    "FUSION_MODES",
    "Config",
    "FusionConfig",
    "PhantomConfig",
    "evaluate",
    "fit",
    "load_config",
    "load_model",
    "plot",
    "read_scan",
    "render",
    "simulate_phantom",
]


def load_config(
    preset: str | None = None,
    config_file: str | Path | None = None,
    sets: Sequence[str] = (),
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build a `Config`: defaults < preset < file < overrides < ``sets`` ("a.b=value")."""
    return _load_config(
        Config,
        preset=preset,
        presets_dir=PRESETS_DIR,
        config_file=config_file,
        overrides=overrides,
        sets=sets,
    )


def simulate_phantom(cfg: PhantomConfig, out: str | Path, layout: str = "x2") -> Scan:
    """Simulate the breathing-thorax scan of ``cfg`` and write it to ``out`` (atomically) in
    ``layout`` (x2 | naf | stnf | native; see `physx4dct.layouts`).
    """
    from physx4dct.data import simulate_scan, write_scan

    try:
        scan = simulate_scan(cfg)
    except ValueError as exc:
        raise UserError(f"bad phantom settings: {exc}") from None
    scan.meta["config"] = to_dict(cfg)
    write_scan(scan, out, layout)
    return scan


def read_scan(path: str | Path, layout: str = "auto") -> Scan:
    """Read a scan pickle (X²-Gaussian / NAF / STNF4D / native layout, auto-detected by
    default; restricted unpickler); see `physx4dct.data.read_scan`.
    """
    from physx4dct.data import read_scan as _read

    return _read(path, layout)


def fit(cfg: Config, run_dir: str | Path, **kwargs: Any) -> dict[str, float]:
    """Train; see `physx4dct.train.fit` (``device``, ``resume``, ``data``, ...)."""
    from physx4dct.train import fit as _fit

    return _fit(cfg, run_dir, **kwargs)


def load_model(path: str | Path, device: str = "cpu") -> tuple[Model4D, Config]:
    """Rebuild a trained model from its checkpoint alone; see `physx4dct.train.load_model`."""
    from physx4dct.train import load_model as _load

    return _load(path, device)


def _check_values(name: str, values: Sequence[float], lo: float, hi: float) -> None:
    for v in values:
        if not (math.isfinite(v) and lo <= v <= hi):
            raise UserError(f"{v} is not a finite value in [{lo:g}, {hi:g}]", path=name)


def render(model: Model4D, times_s: Sequence[float], angles_deg: Sequence[float]) -> np.ndarray:
    """Projections of a loaded model at acquisition times and gantry angles.

    Parameters
    ----------
    model : Model4D
        From `load_model` (carries ``model.geo``, the scan geometry).
    times_s : sequence of float
        Acquisition times (s) within the scan; one, or one per angle.
    angles_deg : sequence of float
        Gantry angles (degrees), finite.

    Returns
    -------
    np.ndarray
        (B, H, W) line integrals (scene units), B = len(angles_deg).
    """
    import numpy as np
    import torch

    from physx4dct.steps import render_projection

    if len(times_s) not in (1, len(angles_deg)) or not angles_deg:
        raise UserError("give one time or one per angle, and at least one angle", path="--time")
    scan_s = float(model.scan_s)
    _check_values("--time", times_s, 0.0, scan_s)
    _check_values("--angle", angles_deg, -1e6, 1e6)
    times = list(times_s) * len(angles_deg) if len(times_s) == 1 else list(times_s)
    dt = model.cloud.xyz.dtype
    with torch.no_grad():
        imgs = [
            render_projection(
                model,
                model.geo,
                torch.tensor(math.radians(a), dtype=dt),
                torch.tensor(t / scan_s, dtype=dt),
            )[0].numpy()
            for a, t in zip(angles_deg, times)
        ]
    return np.stack(imgs)


def evaluate(scan: Scan, model: Model4D | None = None, fdk: str | None = None) -> dict[str, Any]:
    """PSNR3D/SSIM3D per phase and their means (and motion errors in mm when the scan holds
    the phantom's motion truth), of ``model`` or of an FDK baseline.

    ``fdk``: ``"binned"`` (one FDK per phase bin) or ``"all"`` (all projections).
    """
    from physx4dct.evaluate import fdk_volumes, model_volumes, score_scan

    if (model is None) == (fdk is None):
        raise UserError("give exactly one of --checkpoint or --fdk")
    if scan.volumes is None:
        raise UserError("the scan has no ground-truth volumes ('image') to compare with")
    pred = model_volumes(model, scan) if model is not None else fdk_volumes(scan, fdk)
    return score_scan(pred, scan)


def plot(model: Model4D, scan: Scan, cfg: Config, out_dir: str | Path) -> list[Path]:
    """Slices, breathing trace and (fused modes) gate maps / anchor motion into ``out_dir``."""
    from physx4dct.plots import write_figures

    paths = write_figures(model, scan, out_dir)
    if cfg.fusion.fusion_mode != "hexplane" and model.deformation is not None:
        from physx4dct.fusion.plots import write_fusion_figures

        paths += write_fusion_figures(
            model.deformation, out_dir, mm_per_unit=1.0 / scan.geo.scale, scan_s=scan.scan_s
        )
    return paths
