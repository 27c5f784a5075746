"""Training loop: random crops of analytic data, constraint loss, resumable, torchrun-ready.

One code path for one process and for ``torchrun`` (gloo on CPU): every rank builds the same
data bank, draws its own crops from ``generator_for(seed, rank, step)`` (stateless in the
step, so ``--resume`` reproduces an uninterrupted run), gradients are averaged by DDP, and
only rank 0 writes files. The residual scale of the blocks grows linearly from
``res_scale_start`` to ``res_scale_end`` over the run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.checkpoint import load_checkpoint, restore_checkpoint, save_checkpoint
from common.config import to_dict
from common.distributed import (
    all_reduce_mean,
    cleanup_distributed,
    setup_distributed,
    unwrap,
    wrap_ddp,
    write_replica_check,
)
from common.progress import MetricsWriter, ProgressReporter, get_logger
from common.rundir import best_checkpoint, last_checkpoint, prepare_run_dir
from common.seeding import generator_for, seed_everything
from common.signals import GracefulInterrupt
from nrfix.config import Config
from nrfix.constraints import constraints
from nrfix.data import make_split, random_crops
from nrfix.formats import GridData, read_hdf5
from nrfix.losses import ConstraintLoss, excision_weights
from nrfix.model import NRFixNet

log = get_logger("nrfix.train")


def load_bank(
    cfg: Config, split: str, data_dir: str | Path | None = None
) -> tuple[torch.Tensor, float]:
    """(N, 25, G, G, G) float64 bank and dx: from ``data_dir/<split>_*.h5`` or generated."""
    grids: list[GridData]
    if data_dir is not None:
        files = sorted(Path(data_dir).glob(f"{split}_*.h5"))
        if not files:
            raise FileNotFoundError(f"{data_dir}: no {split}_*.h5 files (run `nrfix make-data`)")
        grids = [read_hdf5(f) for f in files]
    else:
        grids = make_split(cfg.data, split)
    dxs = {round(g.dx, 12) for g in grids}
    if len(dxs) != 1 or len({g.vars.shape for g in grids}) != 1:
        raise ValueError(f"{split} grids must share shape and dx (got dx {sorted(dxs)})")
    return torch.from_numpy(np.stack([g.vars for g in grids])), grids[0].dx


def res_scale_at(cfg: Config, step: int) -> float:
    """Linear res_scale schedule from start to end over ``train.steps``."""
    frac = min(step / max(cfg.train.steps, 1), 1.0)
    return cfg.model.res_scale_start + frac * (cfg.model.res_scale_end - cfg.model.res_scale_start)


def _lr_lambda(total: int, warmup: int = 0):
    """LR factor: linear warm-up over ``warmup`` steps, then cosine decay to 10% at ``total``."""

    def factor(s: int) -> float:
        ramp = min((s + 1) / warmup, 1.0) if warmup > 0 else 1.0
        return ramp * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s / max(total, 1), 1.0))))

    return factor


@torch.no_grad()
def validate(
    model: torch.nn.Module, loss_fn: ConstraintLoss, bank: torch.Tensor, dx: float, cfg: Config
) -> dict[str, float]:
    """Mean metrics over the whole validation grids (deterministic; a global output operator
    sees the grid it is used on, and two random crops made the best.pt choice noisy).
    """
    net = unwrap(model)
    rows = []
    for x in bank.split(1):
        x = x.to(next(net.parameters()).device)
        y = net(x, dx)
        row = loss_fn(x, y, dx, net.var_mask)[1]
        keep = excision_weights(x, cfg.loss.chi_excision) > 0
        med = [constraints(v, dx)["Ham"][keep].abs().median() for v in (y, x)]
        row["log10_ham_median_ratio"] = float(torch.log10(med[0] / med[1].clamp(min=1e-300)))
        rows.append(row)
    return {f"val_{k}": float(np.mean([r[k] for r in rows])) for k in rows[0]}


SELECT_BY = {"loss": "val_loss", "ham_median": "val_log10_ham_median_ratio"}
"""``train.select_by`` -> the validation metric best.pt minimises: the loss, or the mean log10
of median |Ham| after/before on the whole validation grids."""


def fit(
    cfg: Config, run_dir: str | Path, resume: bool = False, data_dir: str | Path | None = None
) -> dict[str, Any]:
    """Train ``NRFixNet`` under ``cfg``; writes config.yaml, metrics.jsonl, checkpoints/."""
    info = setup_distributed(cfg.train.device)
    try:
        return _fit(cfg, Path(run_dir), resume, data_dir, info)
    finally:
        cleanup_distributed()


def _fit(cfg: Config, run_dir: Path, resume: bool, data_dir: Any, info: Any) -> dict[str, Any]:
    if cfg.train.select_by not in SELECT_BY:
        raise ValueError(f"train.select_by must be loss or ham_median, not {cfg.train.select_by!r}")
    seed_everything(cfg.train.seed)
    prepare_run_dir(run_dir, cfg, is_main=info.is_main)
    bank, dx = load_bank(cfg, "train", data_dir)
    val_bank, _ = load_bank(cfg, "val", data_dir)
    if cfg.data.crop > min(bank.shape[2:]):
        raise ValueError(f"data.crop={cfg.data.crop} larger than the grid {tuple(bank.shape[2:])}")
    model = NRFixNet(cfg.model).to(info.device)
    loss_fn = ConstraintLoss(cfg.loss).to(info.device)
    ref = loss_fn.set_reference(bank, dx)
    log.info("input scales: <Ham^2> %.3e, <|Mom|^2> %.3e (ratio floors)", ref[0], ref[1])
    gain = [p for n, p in model.named_parameters() if n == "prior_gain"]
    net_params = [p for n, p in model.named_parameters() if n != "prior_gain"]
    groups = [{"params": net_params + list(loss_fn.parameters())}]
    if gain:  # a scalar that must travel O(1): its own, larger step
        groups.append({"params": gain, "lr": cfg.train.gain_lr, "weight_decay": 0.0})
    params = [p for g in groups for p in g["params"]]
    opt = torch.optim.AdamW(groups, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, _lr_lambda(cfg.train.steps, cfg.train.warmup_steps)
    )
    step, best = 0, math.inf
    if resume:
        ckpt = load_checkpoint(last_checkpoint(run_dir), map_location=info.device)
        step = restore_checkpoint(ckpt, model, opt, sched)
        loss_fn.log_var.data.copy_(torch.as_tensor(ckpt["extra"]["loss_log_var"]))
        best = float(ckpt["extra"].get("best_val", math.inf))
        log.info("resumed from %s at step %d", last_checkpoint(run_dir), step)
    ddp = wrap_ddp(model, info)
    state = {
        "cfg": cfg,
        "run_dir": run_dir,
        "model": model,
        "opt": opt,
        "sched": sched,
        "loss_fn": loss_fn,
        "info": info,
    }
    metrics: dict[str, Any] = {}
    writer = MetricsWriter(
        run_dir / "metrics.jsonl", info.is_main, resume_step=step if resume else None
    )
    with (
        writer,
        GracefulInterrupt() as stop,
        ProgressReporter(cfg.train.steps, "nrfix train", info.is_main, start=step) as bar,
    ):
        while step < cfg.train.steps:
            model.res_scale = res_scale_at(cfg, step)
            gen = generator_for(cfg.train.seed, info.rank, step)
            x = random_crops(bank, cfg.data.crop, cfg.train.batch_size, gen).to(info.device)
            loss, metrics = loss_fn(x, ddp(x, dx), dx, model.var_mask)
            if gain:
                metrics["prior_gain"] = float(gain[0].detach())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if info.is_distributed:  # the loss's log-variances live outside DDP
                for p in loss_fn.parameters():
                    if p.grad is not None:
                        p.grad = all_reduce_mean(p.grad)
            if cfg.train.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.train.grad_clip)
            opt.step()
            sched.step()
            step += 1
            metrics = all_reduce_mean(metrics)
            if step % cfg.train.log_every == 0 or step == cfg.train.steps:
                writer.write(step, lr=sched.get_last_lr()[0], **metrics)
            bar.update(step, metrics)
            if step % cfg.train.ckpt_every == 0 or step == cfg.train.steps:
                model.res_scale = cfg.model.res_scale_end
                val = validate(model, loss_fn, val_bank.to(info.device), dx, cfg)
                writer.write(step, **val)
                metrics.update(val)
                score = val[SELECT_BY[cfg.train.select_by]]
                if score < best:
                    best = score
                    _save(state, step, best, best_checkpoint(run_dir))
                _save(state, step, best, last_checkpoint(run_dir))
            if stop.requested:
                _save(state, step, best, last_checkpoint(run_dir))
                stop.exit()
    model.res_scale = cfg.model.res_scale_end
    write_replica_check(ddp, run_dir)
    return {"step": step, "best_val_loss": best, **metrics}


def _save(state: dict, step: int, best: float, path: Path) -> None:
    if not state["info"].is_main:
        return
    save_checkpoint(
        path,
        step=step,
        config=to_dict(state["cfg"]),
        model=state["model"],
        optimizer=state["opt"],
        scheduler=state["sched"],
        extra={"loss_log_var": state["loss_fn"].log_var.detach().cpu().tolist(), "best_val": best},
    )


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[NRFixNet, Config]:
    """Rebuild the trained network and its config from a checkpoint (res_scale = end value)."""
    from common.config import from_dict

    ckpt = load_checkpoint(path, map_location=device)
    cfg = from_dict(Config, ckpt["config"], source=str(path))
    model = NRFixNet(cfg.model).to(device)
    restore_checkpoint(ckpt, model, rng=False)
    model.eval()
    return model, cfg
