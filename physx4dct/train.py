"""Training of the static (R²-Gaussian) and 4D (X²-Gaussian + fusion) Gaussian models.

`fit(cfg, run_dir)` reconstructs the scan ``cfg.data.path``: FDK initialisation, a coarse
static stage, then the fine stage with the deformation field, the learnable period and its
periodic consistency loss, densification and pruning. One code path for one process and
``torchrun`` (set up inside `fit`; gradients are all-reduced by hand because densification
changes parameter shapes, and every rank takes the same densify decisions from all-reduced
statistics). Rank 0 writes. `load_model(path)` rebuilds a model from its checkpoint alone.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from common.checkpoint import (
    CheckpointError,
    check_resume_config,
    clean_stale_tmp,
    load_checkpoint,
    restore_checkpoint,
    save_checkpoint,
)
from common.config import from_dict, to_dict
from common.device import resolve_dtype
from common.distributed import (
    DistInfo,
    all_reduce_mean,
    average_gradients,
    cleanup_distributed,
    setup_distributed,
    write_replica_check,
)
from common.errors import UserError
from common.progress import MetricsWriter, ProgressReporter, get_logger
from common.rundir import best_checkpoint, last_checkpoint, prepare_run_dir
from common.schedule import warmup_cosine
from common.seeding import generator_for, seed_everything
from common.signals import GracefulInterrupt
from physx4dct.averaging import ParamAverage
from physx4dct.config import RESUME_SECTIONS, Config
from physx4dct.data import Scan, read_scan
from physx4dct.densify import densify_and_prune, init_cloud
from physx4dct.fdk import fdk
from physx4dct.geometry import ConeGeometry
from physx4dct.model import Model4D, build_model, rebind
from physx4dct.rasterizer import get_splatter
from physx4dct.steps import (  # noqa: F401 - _periodic_loss, render_projection: re-exported
    _Data,
    _periodic_loss,
    _step_loss,
    _to_device,
    render_projection,
    validate,
)

__all__ = ["fit", "initial_model", "load_model", "make_optimizer", "render_projection"]

log = get_logger("physx4dct.train")


def initial_model(
    cfg: Config, scan: Scan, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> Model4D:
    """The model of ``cfg`` with its Gaussians drawn from the FDK reconstruction of ``scan``."""
    vol = fdk(
        scan.geo,
        torch.as_tensor(scan.train.projections, dtype=torch.float64),
        torch.as_tensor(scan.train.angles, dtype=torch.float64),
    )
    cloud = init_cloud(vol.to(dtype), scan.geo, cfg.gaussians, generator_for(cfg.seed, 0, 0))
    model = build_model(
        cfg, cloud, scan_s=scan.scan_s, voxel=scan.geo.voxel, device=device, dtype=dtype
    )
    if hasattr(model.deformation, "set_surrogate"):
        from physx4dct.surrogate import extract_surrogate, surrogate_on_grid

        tr = scan.train
        sur = extract_surrogate(
            tr.projections, tr.angles, tr.time_s, cfg.fusion.surrogate_harmonics
        )
        model.deformation.set_surrogate(surrogate_on_grid(sur, scan.scan_s))
    return model


def make_optimizer(model: Model4D, cfg: Config) -> torch.optim.Adam:
    """Adam with one group per Gaussian attribute, the deformation groups and tau.

    A group with ``"decay": True`` (positions, and whatever the deformation field marks)
    follows the warm-up + cosine schedule down to ``train.lr_floor``; the others keep
    their lr.
    """
    tc, c = cfg.train, model.cloud
    groups = [
        {"params": [c.xyz], "lr": tc.lr_position, "name": "xyz", "decay": True},
        {"params": [c.log_scale], "lr": tc.lr_scale, "name": "log_scale"},
        {"params": [c.quat], "lr": tc.lr_rotation, "name": "quat"},
        {"params": [c.density_raw], "lr": tc.lr_density, "name": "density_raw"},
    ]
    field = model.deformation
    if field is not None:
        if hasattr(field, "param_groups"):
            groups += list(field.param_groups(tc.lr_hexplane))
        else:
            groups.append(
                {
                    "params": list(field.parameters()),
                    "lr": tc.lr_hexplane,
                    "name": "deformation",
                    "decay": True,
                }
            )
        lr_tau = tc.lr_period if tc.learn_period else 0.0
        groups.append({"params": [model.tau], "lr": lr_tau, "name": "tau"})
    for g in groups:
        g["initial_lr"] = g["lr"]
    return torch.optim.Adam(groups, eps=1e-15)


def _set_lr(
    opt: torch.optim.Optimizer, step: int, total: int, warmup: int = 0, floor: float = 0.1
) -> None:
    """Warm-up + cosine decay to ``floor`` (`common.schedule.warmup_cosine`) of the groups
    marked ``decay``; the other groups keep their lr.
    """
    factor = warmup_cosine(step, total, warmup, floor)
    for g in opt.param_groups:
        if g.get("decay", False):
            g["lr"] = g["initial_lr"] * factor


def _accumulate_densify_stats(model: Model4D) -> None:
    c = model.cloud
    if c.xyz.grad is None:
        return
    g = c.xyz.grad.detach().norm(dim=-1)
    c.grad_accum += g
    c.grad_count += (g > 0).to(g.dtype)


def _maybe_densify(
    model: Model4D, opt: torch.optim.Optimizer, cfg: Config, step: int, geo: ConeGeometry
) -> dict | None:
    gc = cfg.gaussians
    if not (gc.densify_from <= step < gc.densify_until and (step + 1) % gc.densify_every == 0):
        return None
    stats = densify_and_prune(model.cloud, opt, gc, geo.voxel, generator_for(cfg.seed, 0, step))
    rebind(model)
    return stats


@dataclass
class _Run:
    """What the training loop carries between steps."""

    cfg: Config
    run: Path
    info: DistInfo
    scan: Scan
    model: Model4D
    opt: torch.optim.Adam
    start: int
    best: float
    t0: float
    average: ParamAverage | None = None

    def state(self) -> dict[str, Any]:
        """Checkpoint extras: what `load_model` needs without the scan, and resume state."""
        return {
            "n_gaussians": self.model.cloud.n,
            "scan_s": float(self.scan.scan_s),
            "geometry": self.scan.geo.to_dict(),
            "best_val": self.best,
            "elapsed_s": time.time() - self.t0,
        }

    def save(self, path: Path, step: int) -> None:
        """Rank 0 writes a checkpoint."""
        if self.info.is_main:
            save_checkpoint(
                path,
                step=step,
                config=to_dict(self.cfg),
                model=self.model,
                optimizer=self.opt,
                ema=self.average,
                extra=self.state(),
            )


def load_model(
    path: str | Path, device: torch.device | str = "cpu", averaged: bool = True
) -> tuple[Model4D, Config]:
    """Rebuild the model stored in a checkpoint (its config and scan geometry are inside).

    Parameters
    ----------
    path : str or Path
        ``checkpoints/last.pt`` or ``best.pt`` of a run.
    device : torch.device or str
        Where to put the model.
    averaged : bool
        Use the averaged weights (`train.ema_decay`) when the checkpoint has them; False
        gives the last iterate.

    Returns
    -------
    (Model4D, Config)
        The model in eval mode, with ``model.geo`` (`ConeGeometry`) set to the geometry of
        the scan it was trained on, and its config.
    """
    ckpt = load_checkpoint(path, map_location=device)
    cfg = from_dict(Config, ckpt["config"], source=str(path))
    extra = ckpt.get("extra") or {}
    if "geometry" not in extra or "n_gaussians" not in extra:
        raise CheckpointError(f"{path}: written by an older physx4dct (no scan geometry inside)")
    geo = ConeGeometry.from_dict(extra["geometry"])
    model = build_model(
        cfg,
        int(extra["n_gaussians"]),
        scan_s=float(extra["scan_s"]),
        voxel=geo.voxel,
        device=device,
        dtype=resolve_dtype(cfg.dtype),
    )
    rebind(model)
    restore_checkpoint(ckpt, model, rng=False)
    if averaged and (ckpt.get("ema") or {}).get("count", 0) > 0:
        ParamAverage.from_state(ckpt["ema"]).copy_to(model)
    model.geo = geo
    return model.eval(), cfg


def _check_resume(cfg: Config, run: Path, allow: bool) -> dict[str, Any]:
    last = last_checkpoint(run)
    if not last.is_file():
        raise UserError(f"{last} does not exist: nothing to resume", path="--resume")
    ckpt = load_checkpoint(last)
    changed = check_resume_config(
        ckpt["config"], to_dict(cfg), sections=RESUME_SECTIONS, allow=allow, source=last
    )
    if changed:
        log.warning("resuming with a changed config: %s", ", ".join(changed))
    return ckpt


def _start(cfg: Config, run: Path, scan: Scan, info: DistInfo, ckpt: dict | None) -> _Run:
    """Model, optimizer and loop state: fresh from FDK, or restored from ``ckpt``."""
    dtype, device = resolve_dtype(cfg.dtype), info.device
    if ckpt is None:
        model = initial_model(cfg, scan, device, dtype)
        opt, start, extra, average = make_optimizer(model, cfg), 0, {}, _average(cfg)
    else:
        n = int(ckpt["extra"]["n_gaussians"])
        model = build_model(
            cfg, n, scan_s=scan.scan_s, voxel=scan.geo.voxel, device=device, dtype=dtype
        )
        rebind(model)
        opt = make_optimizer(model, cfg)
        average = _average(cfg)
        start, extra = restore_checkpoint(ckpt, model, opt, ema=average), ckpt["extra"]
        log.info("resumed from %s at step %d", last_checkpoint(run), start)
    best = float(extra.get("best_val", -1e9))
    t0 = time.time() - float(extra.get("elapsed_s", 0.0))  # wall time adds up over resumes
    return _Run(cfg, run, info, scan, model, opt, start, best, t0, average)


def _average(cfg: Config) -> ParamAverage | None:
    return ParamAverage(cfg.train.ema_decay) if cfg.train.ema_decay > 0 else None


def _ema_start(cfg: Config) -> int:
    s = cfg.train.ema_start
    return cfg.gaussians.densify_until if s < 0 else s


def _train_step(r: _Run, tdata: _Data, step: int) -> tuple[Tensor, dict, dict | None]:
    """One optimisation step (loss, backward, all-reduce, Adam, densify)."""
    cfg, model, tc = r.cfg, r.model, r.cfg.train
    fine = cfg.model == "4d" and step >= tc.coarse_iterations
    _set_lr(r.opt, step, tc.iterations, tc.lr_warmup, tc.lr_floor)
    gen = generator_for(cfg.seed, r.info.rank, step)
    r.opt.zero_grad(set_to_none=True)
    loss, parts = _step_loss(model, cfg, tdata, step, gen, fine)
    loss.backward()
    average_gradients(model.parameters())
    _accumulate_densify_stats(model)
    r.opt.step()
    field = model.deformation
    if fine and field is not None and hasattr(field, "end_step"):
        field.end_step()
    dens = _maybe_densify(model, r.opt, cfg, step, r.scan.geo)
    if r.average is not None and step >= _ema_start(cfg):
        r.average.update(model)
    return loss, parts, dens


def _log_row(r: _Run, loss: Tensor, parts: dict, dens: dict | None) -> dict[str, Any]:
    row = {
        "loss": float(loss.detach()),
        **parts,
        "n": r.model.cloud.n,
        "period_s": float(r.model.period_s().detach()),
        "sec": time.time() - r.t0,
        **(dens or {}),
    }
    return {k: (all_reduce_mean(v) if isinstance(v, float) else v) for k, v in row.items()}


def _loop(r: _Run, tdata: _Data, stop_after: int | None) -> dict[str, Any]:
    """The explicit training loop: step, log, validate, checkpoint, stop on a signal."""
    tc, metrics = r.cfg.train, {}
    writer = MetricsWriter(r.run / "metrics.jsonl", r.info.is_main, r.start or None)
    reporter = ProgressReporter(tc.iterations, "train", enabled=r.info.is_main, start=r.start)
    with GracefulInterrupt() as stop, writer, reporter as bar:
        for step in range(r.start, tc.iterations):
            if stop.requested:
                r.save(last_checkpoint(r.run), step)
                stop.exit()
            loss, parts, dens = _train_step(r, tdata, step)
            done = step + 1
            if done % tc.log_every == 0 or done == tc.iterations:
                metrics = _log_row(r, loss, parts, dens)
                writer.write(done, **metrics)
                bar.update(done, {k: metrics[k] for k in ("loss", "n", "period_s")})
            if done % tc.eval_every == 0 or done == tc.iterations:
                val = validate(r.model, r.cfg, tdata)
                if val:
                    writer.write(done, **val)
                    if val["val_psnr"] > r.best:
                        r.best = val["val_psnr"]
                        r.save(best_checkpoint(r.run), done)
                metrics.update(val)
            if done % tc.ckpt_every == 0 or done in (tc.iterations, stop_after):
                r.save(last_checkpoint(r.run), done)
            if done == stop_after:
                break
    return metrics


def fit(
    cfg: Config,
    run_dir: str | Path,
    *,
    device: str = "auto",
    resume: bool = False,
    allow_config_change: bool = False,
    data: str | Path | None = None,
    stop_after: int | None = None,
) -> dict[str, float]:
    """Reconstruct the scan ``cfg.data.path`` into ``run_dir``.

    Parameters
    ----------
    cfg : Config
        Everything the run needs (stored in ``config.yaml`` and every checkpoint).
    run_dir : str or Path
        Output directory: ``config.yaml``, ``metrics.jsonl``, ``checkpoints/{last,best}.pt``.
        Created only after the scan and, with ``resume``, the checkpoint were checked.
    device : str
        auto | cpu | cuda | cuda:N; under ``torchrun`` each rank takes its own device.
    resume : bool
        Continue exactly from ``run_dir/checkpoints/last.pt``.
    allow_config_change : bool
        With ``resume``: accept a model/data/loss config that differs from the checkpoint's.
    data : str or Path, optional
        Scan file; overrides ``cfg.data.path``.
    stop_after : int, optional
        Save last.pt and return after this step, as an interrupted run would (tests).

    Returns
    -------
    dict
        Final metrics, the learned ``period_s`` and ``elapsed_s`` (wall time summed over
        resumes).
    """
    if data is not None:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, path=str(data)))
    if not cfg.data.path:
        raise UserError("no scan given (--data or data.path)", path="--data")
    scan, run = read_scan(cfg.data.path, cfg.data.layout), Path(run_dir)
    get_splatter(cfg.train.rasterizer)  # cuda without CUDA: refused before the run dir
    ckpt = _check_resume(cfg, run, allow_config_change) if resume else None
    info = setup_distributed(device)
    try:
        seed_everything(cfg.seed)
        r = _start(cfg, run, scan, info, ckpt)  # FDK initialisation: may refuse the scan
        if info.is_main:
            clean_stale_tmp(run / "checkpoints")
            clean_stale_tmp(run)
        prepare_run_dir(run, cfg, info.is_main)
        metrics = _loop(r, _to_device(scan, info.device, resolve_dtype(cfg.dtype)), stop_after)
        if info.is_distributed:
            write_replica_check(r.model, run)
    finally:
        cleanup_distributed()
    metrics["period_s"] = float(r.model.period_s().detach())
    metrics["elapsed_s"] = time.time() - r.t0
    return metrics
