"""Training: ``fit(cfg, run_dir, *, device, resume)``, one code path for 1 process and torchrun.

``fit`` reads the scenario folder ``cfg.data.scenario`` (validated before the run directory
is touched), sets up DDP when launched by torchrun, and runs an explicit loop. Batches come
from the time-binned sampler, deterministic in (seed, epoch), so ``--resume`` continues
exactly. Rank 0 writes metrics.jsonl and checkpoints (last.pt every ``ckpt_every`` steps and
on SIGTERM/SIGINT, best.pt on the held-out loss). Learning rate: common.schedule's linear
warm-up + cosine decay to ``train.lr_floor``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.errors import UserError
from ionofield.checkpoint import check_fits, read_checkpoint
from ionofield.config import IonofieldConfig
from ionofield.losses import (
    chapman_curvature_loss,
    data_loss,
    direction_loss,
    head_loss,
    horizontal_gradient,
)
from ionofield.model import RSTMRF, build_model, sample_maps
from ionofield.prepare import Prepared, make_batch

__all__ = ["build_model", "compute_losses", "fit", "load_model", "validate"]

Split = tuple[np.ndarray, np.ndarray]


def compute_losses(
    model: torch.nn.Module, batch: dict, cfg: IonofieldConfig
) -> dict[str, torch.Tensor]:
    """Forward pass and every loss term; returns a dict of scalar tensors incl. 'total'."""
    lc = cfg.loss
    out = model(batch, derivatives=lc.w_chapman > 0 or lc.w_tec_direction > 0)
    pred = batch["bg"] + out["residual"]
    terms = {"data": data_loss(pred, out["logvar"], batch["y"], lc.likelihood)}
    total = terms["data"]
    if "d_resid" in out:
        n = out["d_resid"].shape[0]
        bg_d = batch["bg_deriv"][:n]
        deriv = bg_d + out["d_resid"]
        if lc.w_chapman > 0:
            terms["chapman"] = chapman_curvature_loss(deriv[:, 2], lc.curvature_max, bg_d[:, 2])
            total = total + lc.w_chapman * terms["chapman"]
        if lc.w_tec_direction > 0 and "direction_maps" in out:
            lat, lon = batch["coords"][:n, 0], batch["coords"][:n, 1]
            d = sample_maps(out["direction_maps"], batch["win_idx"][:n], lat, lon).detach()
            terms["tec_dir"] = direction_loss(horizontal_gradient(deriv[:, 0], deriv[:, 1], lat), d)
            terms["head"] = head_loss(out["direction_maps"], batch["tec_grad"])
            total = (
                total + lc.w_tec_direction * terms["tec_dir"] + lc.w_direction_head * terms["head"]
            )
    terms["total"] = total
    terms["rmse"] = torch.sqrt(torch.mean((pred.detach() - batch["y"]) ** 2))
    return terms


@torch.no_grad()
def validate(
    model: RSTMRF, prep: Prepared, idx: np.ndarray, cfg: IonofieldConfig, device: torch.device
) -> dict[str, float]:
    """RMSE and NLL of log10 Ne on observations ``idx`` (no derivatives); {} when empty."""
    if idx.size == 0:
        return {}
    preds, logv = [], []
    for s in range(0, idx.size, cfg.eval.batch_size):
        b = make_batch(prep, torch.as_tensor(idx[s : s + cfg.eval.batch_size]), 1, False, device)
        out = model(b, derivatives=False)
        preds.append((b["bg"] + out["residual"]).cpu())
        logv.append(out["logvar"].cpu())
    pred, y = torch.cat(preds), prep.y[torch.as_tensor(idx)]
    return {
        "val_rmse": float(torch.sqrt(torch.mean((pred - y) ** 2))),
        "val_nll": float(data_loss(pred, torch.cat(logv), y, "nll")),
        "iri_rmse": float(torch.sqrt(torch.mean((prep.bg[torch.as_tensor(idx)] - y) ** 2))),
    }


def fit(
    cfg: IonofieldConfig,
    run_dir: str | Path,
    *,
    device: str = "auto",
    resume: bool = False,
    allow_config_change: bool = False,
) -> dict[str, Any]:
    """Train the residual field on the scenario ``cfg.data.scenario`` into ``run_dir``.

    Parameters
    ----------
    cfg
        The resolved config; ``cfg.data.scenario`` names the scenario folder.
    run_dir
        Gets config.yaml, metrics.jsonl, checkpoints/{last,best}.pt and ddp_check.json.
    device
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (each torchrun rank takes its own GPU).
    resume
        Continue from ``run_dir/checkpoints/last.pt`` exactly where it stopped.
    allow_config_change
        With ``resume``: accept a model/data config that differs from the checkpoint's.

    Returns
    -------
    dict
        The last step's metrics plus ``best_val_rmse`` and ``steps``.
    """
    from common.distributed import cleanup_distributed, setup_distributed

    run_dir = Path(run_dir)
    if not cfg.data.scenario:
        raise UserError("data.scenario: no scenario folder given (train --scenario DIR)")
    ckpt = _resume_checkpoint(cfg, run_dir, allow_config_change) if resume else None
    prep, split = _load_data(cfg)  # every input is checked before the run dir is created
    info = setup_distributed(device)
    try:
        _prepare_run_dir(cfg, run_dir, info.is_main)
        return _train(cfg, run_dir, (prep, split), info, ckpt)
    finally:
        cleanup_distributed()


def _resume_checkpoint(cfg: IonofieldConfig, run_dir: Path, allow: bool) -> dict[str, Any]:
    from common.checkpoint import check_resume_config
    from common.config import to_dict
    from common.rundir import last_checkpoint

    path = last_checkpoint(run_dir)
    if not path.is_file():
        raise UserError("--resume: no checkpoints/last.pt to continue from", path=run_dir)
    ckpt = read_checkpoint(path)
    check_resume_config(ckpt["config"], to_dict(cfg), allow=allow, source=path)
    return ckpt


def _load_data(cfg: IonofieldConfig) -> tuple[Prepared, Split]:
    from common.device import resolve_dtype
    from ionofield.prepare import load_prepared

    prep, split = load_prepared(cfg, cfg.data.scenario, resolve_dtype(cfg.train.dtype))
    if split[0].size == 0:
        raise UserError(
            "no training observations left after the hold-out split (see data.holdout_every)",
            path=cfg.data.scenario,
        )
    return prep, split


def _prepare_run_dir(cfg: IonofieldConfig, run_dir: Path, is_main: bool) -> None:
    from common.checkpoint import clean_stale_tmp
    from common.rundir import prepare_run_dir

    prepare_run_dir(run_dir, cfg, is_main=is_main)
    if is_main:  # orphans of a writer killed mid-write (common.io.atomic_path)
        clean_stale_tmp(run_dir)
        clean_stale_tmp(run_dir / "checkpoints")


def _in_dtype(model: RSTMRF, dtype: str) -> RSTMRF:
    """float64 runs convert the weights; float32 leaves the float64 time buffers alone."""
    return model.double() if dtype == "float64" else model


def _batches(
    cfg: IonofieldConfig, prep: Prepared, train_idx: np.ndarray, info: Any, with_tec: bool
) -> Callable[[int], dict]:
    """``batch(step)``: the step's training batch, the same on a resumed run."""
    from ionofield.data import TimeBinnedBatchSampler

    hours = prep.hour_idx[torch.as_tensor(train_idx)].numpy()
    sampler = TimeBinnedBatchSampler(
        hours,
        cfg.train.batch_size,
        cfg.data.bins_per_batch,
        cfg.train.seed,
        info.rank,
        info.world_size,
    )
    epochs: dict[int, list[np.ndarray]] = {}

    def batch(step: int) -> dict:
        epoch, k = divmod(step, sampler.n_per_epoch)
        if epoch not in epochs:
            epochs.clear()
            epochs[epoch] = sampler.epoch(epoch)
        idx = torch.as_tensor(train_idx[epochs[epoch][k]])
        return make_batch(
            prep, idx, cfg.data.tec_seq_len, with_tec, info.device, cfg.data.tec_stride
        )

    return batch


def _stop_everywhere(requested: bool, info: Any) -> bool:
    """True on every rank once any rank got SIGTERM/SIGINT (all stop at the same step)."""
    if not info.is_distributed:
        return requested
    import torch.distributed as dist

    flag = torch.tensor([float(requested)], device=info.device)
    dist.all_reduce(flag)
    return bool(flag.item() > 0)


def _train_step(
    ddp: torch.nn.Module, opt: torch.optim.Optimizer, sched: Any, batch: dict, cfg: IonofieldConfig
) -> dict[str, float]:
    ddp.train()
    terms = compute_losses(ddp, batch, cfg)
    opt.zero_grad(set_to_none=True)
    terms["total"].backward()
    gnorm = torch.nn.utils.clip_grad_norm_(ddp.parameters(), cfg.train.grad_clip)
    opt.step()
    sched.step()
    return {k: float(v.detach()) for k, v in terms.items()} | {
        "grad_norm": float(gnorm),
        "lr": sched.get_last_lr()[0],
    }


def _setup(
    cfg: IonofieldConfig, prep: Prepared, info: Any, ckpt: Any
) -> tuple[RSTMRF, torch.optim.Optimizer, Any, int, float]:
    """Model, optimizer, schedule, start step and best held-out RMSE (restored on resume)."""
    from common.checkpoint import restore_checkpoint
    from common.progress import get_logger
    from common.schedule import warmup_cosine_scheduler
    from common.seeding import seed_everything

    tc = cfg.train
    seed_everything(tc.seed)
    model = _in_dtype(build_model(cfg, prep), tc.dtype).to(info.device)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    sched = warmup_cosine_scheduler(opt, tc.steps, tc.warmup_steps, tc.lr_floor)
    step, best = 0, float("inf")
    if ckpt is not None:
        step = restore_checkpoint(ckpt, model, opt, sched)
        best = float(ckpt["extra"].get("best", best))
        get_logger("ionofield.train").info("resumed from step %d", step)
    return model, opt, sched, step, best


def _train(
    cfg: IonofieldConfig, run_dir: Path, data: tuple[Prepared, Split], info: Any, ckpt: Any
) -> dict[str, Any]:
    """The training loop (rank 0 writes metrics and checkpoints)."""
    from common.checkpoint import save_last_best
    from common.config import to_dict
    from common.distributed import wrap_ddp, write_replica_check
    from common.progress import MetricsWriter, ProgressReporter
    from common.signals import GracefulInterrupt

    prep, (train_idx, val_idx) = data
    tc = cfg.train
    model, opt, sched, step, best = _setup(cfg, prep, info, ckpt)
    ddp = wrap_ddp(model, info)
    batch = _batches(cfg, prep, train_idx, info, model.tec_net is not None)
    state = {"config": to_dict(cfg), "model": model, "optimizer": opt, "scheduler": sched}

    def save(is_best: bool = False) -> None:
        extra = {"t0_s": prep.t0_s, "best": best}
        save_last_best(
            run_dir, is_main=info.is_main, is_best=is_best, step=step, extra=extra, **state
        )

    metrics: dict[str, Any] = {}
    t_start = time.time()
    with (
        GracefulInterrupt() as stop,
        MetricsWriter(run_dir / "metrics.jsonl", info.is_main, step if ckpt else None) as writer,
        ProgressReporter(
            tc.steps, "train", enabled=info.is_main, log_every_s=tc.log_every_s, start=step
        ) as bar,
    ):
        while step < tc.steps:
            if _stop_everywhere(stop.requested, info):
                save()
                stop.exit()
            metrics = _train_step(ddp, opt, sched, batch(step), cfg)
            step += 1
            is_best = False
            if step % tc.eval_every == 0 or step == tc.steps:
                model.eval()
                metrics |= validate(model, prep, val_idx, cfg, info.device)
                is_best = metrics.get("val_rmse", float("inf")) < best
                best = min(best, metrics.get("val_rmse", best))
            writer.write(step, **metrics, elapsed_s=time.time() - t_start)
            bar.update(step, {k: metrics[k] for k in ("total", "rmse") if k in metrics})
            stopping = bool(tc.stop_at) and step >= tc.stop_at
            if is_best or stopping or step % tc.ckpt_every == 0 or step == tc.steps:
                save(is_best)
            if stopping:
                break
    write_replica_check(model, run_dir)
    return metrics | {"best_val_rmse": best, "steps": step}


def load_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[RSTMRF, IonofieldConfig]:
    """Rebuild a trained network and its config from a checkpoint or a run directory.

    Parameters
    ----------
    path
        A checkpoint file, or a run directory (its ``checkpoints/best.pt``, else ``last.pt``).
    device
        Where to put the model.

    Returns
    -------
    tuple
        ``(model, cfg)``, the model in eval mode in the run's dtype.
    """
    from common.checkpoint import CheckpointError, restore_checkpoint
    from common.config import ConfigError

    path = Path(path)
    if path.is_dir():
        best = path / "checkpoints" / "best.pt"
        path = best if best.is_file() else path / "checkpoints" / "last.pt"
    ckpt = read_checkpoint(path)
    try:
        cfg = _stored_config(ckpt, path)
        model = _in_dtype(build_model(cfg), cfg.train.dtype)
        check_fits(model, ckpt["model"])
        restore_checkpoint(ckpt, model, rng=False)
    except (CheckpointError, ConfigError) as exc:
        raise CheckpointError(str(exc).removeprefix(f"{path}: "), path=path) from None
    return model.to(device).eval(), cfg


def _stored_config(ckpt: dict[str, Any], path: Path) -> IonofieldConfig:
    from common.config import from_dict

    saved = dict(ckpt["config"])
    if isinstance(saved.get("model"), dict):  # runs saved before `hmf2_input` existed lack it
        saved["model"] = {"hmf2_input": False, **saved["model"]}
    removed = (("loss", "deriv_points"), ("eval", "use_cache"), ("eval", "cache_size"))
    for section, key in removed:  # keys of older runs that no longer exist
        if isinstance(saved.get(section), dict):
            saved[section] = {k: v for k, v in saved[section].items() if k != key}
    return from_dict(IonofieldConfig, saved, source=str(path))
