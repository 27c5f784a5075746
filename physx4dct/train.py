"""Training of the static (R²-Gaussian) and 4D (X²-Gaussian + fusion) Gaussian models.

`fit(cfg, run_dir, data)` reconstructs one scan: FDK initialisation, a coarse static stage,
then the fine stage with the deformation field, the learnable period and its periodic
consistency loss, densification and pruning. One code path for one process and `torchrun`
(gradients are all-reduced by hand because densification changes parameter shapes; every
rank takes the same densify decisions from all-reduced statistics). Rank 0 writes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from common.checkpoint import load_checkpoint, restore_checkpoint, save_checkpoint
from common.config import from_dict, to_dict
from common.distributed import (
    DistInfo,
    all_reduce_mean,
    average_gradients,
    write_replica_check,
)
from common.progress import MetricsWriter, ProgressReporter, get_logger
from common.rundir import best_checkpoint, last_checkpoint, prepare_run_dir
from common.seeding import generator_for, seed_everything
from common.signals import GracefulInterrupt
from physx4dct.config import Config
from physx4dct.data import Scan, read_scan
from physx4dct.deformation import HexPlaneField
from physx4dct.densify import densify_and_prune, init_cloud
from physx4dct.fdk import fdk
from physx4dct.fusion import build_deformation
from physx4dct.losses import projection_loss, tv3d
from physx4dct.model import GaussianCloud, Model4D
from physx4dct.projector import splat_view
from physx4dct.voxelizer import random_subgrid, voxelize

__all__ = ["fit", "build_model", "load_model", "render_projection", "make_optimizer"]

log = get_logger("physx4dct.train")


@dataclass
class _Data:
    """Training tensors on the device."""

    scan: Scan
    proj: Tensor
    angles: Tensor
    t: Tensor
    val_proj: Tensor | None
    val_angles: Tensor | None
    val_t: Tensor | None


def _to_device(scan: Scan, device: torch.device, dtype: torch.dtype) -> _Data:
    def tens(x):
        return torch.as_tensor(x, dtype=dtype, device=device)

    v = scan.val
    return _Data(
        scan,
        tens(scan.train.projections),
        tens(scan.train.angles),
        tens(scan.train.time_s / scan.scan_s),
        tens(v.projections) if v else None,
        tens(v.angles) if v else None,
        tens(v.time_s / scan.scan_s) if v else None,
    )


def build_model(
    cfg: Config,
    scan: Scan,
    n_gaussians: int | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Model4D:
    """The model of `cfg`: initialised from FDK, or empty with `n_gaussians` (to load into)."""
    if n_gaussians is None:
        vol = fdk(
            scan.geo,
            torch.as_tensor(scan.train.projections, dtype=torch.float64),
            torch.as_tensor(scan.train.angles, dtype=torch.float64),
        )
        cloud = init_cloud(vol.to(dtype), scan.geo, cfg.gaussians, generator_for(cfg.seed, 0, 0))
    else:
        cloud = GaussianCloud(1)
        cloud.resize(n_gaussians)
    cloud = cloud.to(device=device, dtype=dtype)
    hexplane = deform = None
    if cfg.model == "4d":
        hexplane = HexPlaneField(cfg.hexplane).to(device=device, dtype=dtype)
        deform = build_deformation(cfg.fusion, hexplane, cloud.xyz.detach())
        deform = deform.to(device=device, dtype=dtype)
    elif cfg.model != "static":
        raise ValueError(f"unknown model {cfg.model!r} (4d | static)")
    model = Model4D(
        cloud,
        hexplane,
        deform,
        cfg.train.period_init_s,
        scan.scan_s,
        min_scale=cfg.gaussians.min_scale_vox * scan.geo.voxel,
    )
    return model.to(device=device, dtype=dtype)


def make_optimizer(model: Model4D, cfg: Config) -> torch.optim.Adam:
    """Adam with one group per Gaussian attribute, the deformation groups and tau.

    A group with ``"decay": True`` (positions, and whatever the deformation field marks) has
    its lr decayed x0.1 over the run; the others keep theirs.
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


def _set_lr(opt: torch.optim.Optimizer, step: int, total: int) -> None:
    """Exponential decay x0.1 over the run for the groups marked ``decay``."""
    frac = min(step / max(total, 1), 1.0)
    for g in opt.param_groups:
        if g.get("decay", False):
            g["lr"] = g["initial_lr"] * 0.1**frac


def render_projection(
    model: Model4D, geo, angle: Tensor, t: Tensor | None, step: int = 0, budget: int = 2_000_000
):
    """Projection (H, W) at gantry `angle` and normalised time `t` (None = canonical)."""
    means, cov, dens, out = model.gaussians_at(t, step)
    return splat_view(geo, angle, means, cov, dens, budget), out, (means, cov, dens)


def _step_loss(
    model: Model4D, cfg: Config, data: _Data, step: int, gen: torch.Generator, fine: bool
) -> tuple[Tensor, dict[str, float]]:
    """Total loss of one iteration and its logged parts."""
    tc, lc, geo = cfg.train, cfg.loss, data.scan.geo
    idx = torch.randint(0, data.proj.shape[0], (tc.views_per_step,), generator=gen)
    preds, parts, extra = [], {}, 0.0
    gauss = None
    for j in idx.tolist():
        t = data.t[j] if fine else None
        pred, out, g = render_projection(model, geo, data.angles[j], t, step, tc.budget)
        preds.append(pred)
        gauss = gauss or g
        if out is not None:
            for k, v in out.losses.items():
                extra = extra + v / len(idx)
                parts[k] = parts.get(k, 0.0) + float(v.detach()) / len(idx)
            parts.update({k: float(v) for k, v in out.stats.items()})
    loss = projection_loss(torch.stack(preds), data.proj[idx], lc.dssim)
    parts["proj"] = float(loss.detach())
    loss = loss + extra
    if lc.tv > 0 and step % lc.tv_every == 0:
        sub, _ = random_subgrid(geo, lc.tv_size, gen)
        tv = tv3d(voxelize(*gauss, sub, budget=tc.budget))
        loss = loss + lc.tv * tv
        parts["tv"] = float(tv.detach())
    if fine and model.hexplane is not None:
        sm = model.hexplane.smoothness()
        loss = (
            loss
            + lc.plane_tv * sm["plane_tv"]
            + lc.time_smooth * sm["time_smooth"]
            + lc.time_l1 * sm["time_l1"]
        )
    if fine and lc.period > 0 and step >= tc.coarse_iterations + lc.period_from:
        loss = loss + lc.period * _periodic_loss(model, cfg, data, idx[0], step, parts)
    return loss, parts


def _periodic_loss(
    model: Model4D, cfg: Config, data: _Data, j: Tensor, step: int, parts: dict
) -> Tensor:
    """L(render(t + T), I(t)) with T = exp(tau) / scan (t - T when t + T leaves the scan)."""
    period = model.period_s() / model.scan_s
    t = data.t[j]
    shifted = torch.where(t + period <= 1.0, t + period, t - period)
    pred, _, _ = render_projection(
        model, data.scan.geo, data.angles[j], shifted, step, cfg.train.budget
    )
    pc = projection_loss(pred[None], data.proj[j][None], cfg.loss.dssim)
    parts["periodic"] = float(pc.detach())
    return pc


def _after_densify(model: Model4D) -> None:
    field = model.deformation
    if field is not None and hasattr(field, "rebind"):
        field.rebind(model.cloud.xyz.detach())


def _accumulate_densify_stats(model: Model4D) -> None:
    c = model.cloud
    if c.xyz.grad is None:
        return
    g = c.xyz.grad.detach().norm(dim=-1)
    c.grad_accum += g
    c.grad_count += (g > 0).to(g.dtype)


def _maybe_densify(model: Model4D, opt, cfg: Config, step: int, geo) -> dict | None:
    gc = cfg.gaussians
    if not (gc.densify_from <= step < gc.densify_until and (step + 1) % gc.densify_every == 0):
        return None
    stats = densify_and_prune(model.cloud, opt, gc, geo.voxel, generator_for(cfg.seed, 0, step))
    _after_densify(model)
    return stats


@torch.no_grad()
def validate(model: Model4D, cfg: Config, data: _Data) -> dict[str, float]:
    """PSNR (dB) of the validation projections, peak = max of the measured ones."""
    if data.val_proj is None or data.val_proj.shape[0] == 0:
        return {}
    mse = []
    for k in range(data.val_proj.shape[0]):
        t = data.val_t[k] if model.deformation is not None else None
        pred, _, _ = render_projection(
            model, data.scan.geo, data.val_angles[k], t, budget=cfg.train.budget
        )
        mse.append(float(((pred - data.val_proj[k]) ** 2).mean()))
    peak = float(data.val_proj.max())
    return {"val_psnr": 10 * math.log10(peak**2 / max(sum(mse) / len(mse), 1e-20))}


def _save(path: Path, model: Model4D, opt, cfg: Config, step: int, extra: dict) -> None:
    save_checkpoint(
        path,
        step=step,
        config=to_dict(cfg),
        model=model,
        optimizer=opt,
        extra={"n_gaussians": model.cloud.n, **extra},
    )


def load_model(
    ckpt_path: str | Path, scan: Scan, device: torch.device | str = "cpu"
) -> tuple[Model4D, Config, dict]:
    """Rebuild the model stored in a checkpoint (its own config inside)."""
    ckpt = load_checkpoint(ckpt_path, map_location=device)
    cfg = from_dict(Config, ckpt["config"], source=str(ckpt_path))
    from common.device import resolve_dtype

    model = build_model(
        cfg, scan, int(ckpt["extra"]["n_gaussians"]), device, resolve_dtype(cfg.dtype)
    )
    _after_densify(model)
    restore_checkpoint(ckpt, model, rng=False)
    return model, cfg, ckpt


def _resume(run: Path, cfg: Config, scan: Scan, device, dtype):
    ckpt = load_checkpoint(last_checkpoint(run), map_location=device)
    model = build_model(cfg, scan, int(ckpt["extra"]["n_gaussians"]), device, dtype)
    _after_densify(model)
    opt = make_optimizer(model, cfg)
    step = restore_checkpoint(ckpt, model, opt)
    return model, opt, step, ckpt["extra"]


def fit(
    cfg: Config,
    run_dir: str | Path,
    data: str | Path,
    *,
    info: DistInfo | None = None,
    resume: bool = False,
    stop_after: int | None = None,
) -> dict[str, float]:
    """Reconstruct the scan `data` (pickle) into `run_dir`; returns the final metrics and
    `elapsed_s`, the wall time of the fit summed over resumes (kept in the checkpoints).

    `stop_after`: save last.pt and return after this step, as an interrupted run would
    (used to test that `resume` continues exactly).
    """
    from common.device import resolve_dtype

    info = info or DistInfo(0, 0, 1, torch.device("cpu"))
    dtype, device = resolve_dtype(cfg.dtype), info.device
    seed_everything(cfg.seed)
    scan = read_scan(data)
    run = prepare_run_dir(run_dir, cfg, info.is_main)
    if resume:
        model, opt, start, extra = _resume(run, cfg, scan, device, dtype)
        log.info("resumed from %s at step %d", last_checkpoint(run), start)
    else:
        model = build_model(cfg, scan, None, device, dtype)
        opt, start, extra = make_optimizer(model, cfg), 0, {}
    tdata = _to_device(scan, device, dtype)
    best = float(extra.get("best_val", -1e9))
    tc = cfg.train
    metrics: dict[str, float] = {}
    writer = MetricsWriter(run / "metrics.jsonl", info.is_main, start if resume else None)
    with (
        GracefulInterrupt() as stop,
        writer,
        ProgressReporter(tc.iterations, "train", enabled=info.is_main, start=start) as bar,
    ):
        t0 = time.time() - float(extra.get("elapsed_s", 0.0))  # wall time adds up over resumes

        def state() -> dict:
            return {"best_val": best, "elapsed_s": time.time() - t0}

        for step in range(start, tc.iterations):
            if stop.requested:
                if info.is_main:
                    _save(last_checkpoint(run), model, opt, cfg, step, state())
                stop.exit()
            fine = cfg.model == "4d" and step >= tc.coarse_iterations
            _set_lr(opt, step, tc.iterations)
            gen = generator_for(cfg.seed, info.rank, step)
            opt.zero_grad(set_to_none=True)
            loss, parts = _step_loss(model, cfg, tdata, step, gen, fine)
            loss.backward()
            average_gradients(model.parameters())
            _accumulate_densify_stats(model)
            opt.step()
            field = model.deformation
            if fine and field is not None and hasattr(field, "end_step"):
                field.end_step()
            dens = _maybe_densify(model, opt, cfg, step, scan.geo)
            done = step + 1
            if done % tc.log_every == 0 or done == tc.iterations:
                metrics = {
                    "loss": float(loss.detach()),
                    **parts,
                    "n": model.cloud.n,
                    "period_s": float(model.period_s().detach()),
                    "sec": time.time() - t0,
                    **(dens or {}),
                }
                metrics = {
                    k: (all_reduce_mean(v) if isinstance(v, float) else v)
                    for k, v in metrics.items()
                }
                writer.write(done, **metrics)
                bar.update(done, {k: metrics[k] for k in ("loss", "n", "period_s")})
            if done % tc.eval_every == 0 or done == tc.iterations:
                val = validate(model, cfg, tdata)
                if val:
                    writer.write(done, **val)
                    if val["val_psnr"] > best and info.is_main:
                        best = val["val_psnr"]
                        _save(best_checkpoint(run), model, opt, cfg, done, state())
                metrics.update(val)
            last = done == tc.iterations or done == stop_after
            if info.is_main and (done % tc.ckpt_every == 0 or last):
                _save(last_checkpoint(run), model, opt, cfg, done, state())
            if done == stop_after:
                break
    if info.is_distributed:
        write_replica_check(model, run)
    metrics["period_s"] = float(model.period_s().detach())
    metrics["elapsed_s"] = time.time() - t0
    return metrics
