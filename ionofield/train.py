"""Training: ``fit(cfg, run_dir, scenario_dir, ...)``, one code path for 1 process and torchrun.

Batches come from the time-binned sampler, deterministic in (seed, epoch), so ``--resume``
continues exactly. Rank 0 writes metrics.jsonl and checkpoints (last.pt every
``ckpt_every`` steps and on SIGTERM/SIGINT, best.pt on the held-out loss).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from ionofield.config import IonofieldConfig
from ionofield.losses import (
    chapman_curvature_loss,
    data_loss,
    direction_loss,
    head_loss,
    horizontal_gradient,
)
from ionofield.model import RSTMRF, sample_maps
from ionofield.prepare import Prepared, make_batch


def compute_losses(model, batch: dict, cfg: IonofieldConfig) -> dict:
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


def build_model(cfg: IonofieldConfig, prep: Prepared | None = None) -> RSTMRF:
    """The network of ``cfg`` with its time frame set from the data (if given)."""
    model = RSTMRF(cfg.model, use_tec=cfg.loss.w_tec_direction > 0)
    if prep is not None:
        t = prep.time_s
        model.set_time_frame(float((t.min() + t.max()) / 2), float((t.max() - t.min()) / 7200.0))
    return model


def _schedule(cfg: IonofieldConfig):
    steps = max(cfg.train.steps, 1)
    return lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))


@torch.no_grad()
def validate(model, prep: Prepared, idx: np.ndarray, cfg: IonofieldConfig, device) -> dict:
    """RMSE and NLL of log10 Ne on observations ``idx`` (no derivatives)."""
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
    prep: Prepared,
    split: tuple[np.ndarray, np.ndarray],
    device: torch.device,
    resume: bool = False,
    info=None,
) -> dict:
    """Train on ``split[0]``, validate on ``split[1]``; returns the final metrics."""
    from common.checkpoint import load_checkpoint, restore_checkpoint
    from common.config import to_dict
    from common.distributed import DistInfo, wrap_ddp, write_replica_check
    from common.progress import MetricsWriter, ProgressReporter, get_logger
    from common.rundir import last_checkpoint
    from common.seeding import seed_everything
    from common.signals import GracefulInterrupt
    from ionofield.data import TimeBinnedBatchSampler

    info = info or DistInfo(device=device)
    log, run_dir = get_logger("ionofield.train"), Path(run_dir)
    seed_everything(cfg.train.seed)
    model = build_model(cfg, prep).to(device)
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(cfg))
    step, best = 0, float("inf")
    if resume:
        ckpt = load_checkpoint(last_checkpoint(run_dir))
        step = restore_checkpoint(ckpt, model, opt, sched)
        best = float(ckpt["extra"].get("best", best))
        log.info("resumed from step %d", step)
    ddp = wrap_ddp(model, info)
    train_idx, val_idx = split
    hours = prep.hour_idx[torch.as_tensor(train_idx)].numpy()
    sampler = TimeBinnedBatchSampler(
        hours,
        cfg.train.batch_size,
        cfg.data.bins_per_batch,
        cfg.train.seed,
        info.rank,
        info.world_size,
    )
    with_tec, cfg_dict = model.tec_net is not None, to_dict(cfg)
    extra = {"t0_s": prep.t0_s}

    def save(name: str, step_: int) -> None:
        if info.is_main:
            from common.checkpoint import save_checkpoint

            save_checkpoint(
                run_dir / "checkpoints" / name,
                step=step_,
                config=cfg_dict,
                model=model,
                optimizer=opt,
                scheduler=sched,
                extra={**extra, "best": best},
            )

    metrics: dict = {}
    writer = MetricsWriter(
        run_dir / "metrics.jsonl", enabled=info.is_main, resume_step=step if resume else None
    )
    t_start = time.time()
    with (
        GracefulInterrupt() as stop,
        ProgressReporter(
            cfg.train.steps,
            "train",
            enabled=info.is_main,
            log_every_s=cfg.train.log_every_s,
            start=step,
        ) as bar,
    ):
        batches: list = []
        while step < cfg.train.steps:
            if stop.requested:
                save("last.pt", step)
                stop.exit()
            epoch, k = divmod(step, sampler.n_per_epoch)
            if k == 0 or not batches:
                batches = sampler.epoch(epoch)
            idx = torch.as_tensor(train_idx[batches[k]])
            batch = make_batch(
                prep, idx, cfg.data.tec_seq_len, with_tec, device, cfg.data.tec_stride
            )
            ddp.train()
            terms = compute_losses(ddp, batch, cfg)
            opt.zero_grad(set_to_none=True)
            terms["total"].backward()
            gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
            opt.step()
            sched.step()
            step += 1
            metrics = {k: float(v.detach()) for k, v in terms.items()} | {
                "grad_norm": float(gnorm),
                "lr": sched.get_last_lr()[0],
            }
            if step % cfg.train.eval_every == 0 or step == cfg.train.steps:
                model.eval()
                metrics |= validate(model, prep, val_idx, cfg, device)
                if metrics.get("val_rmse", float("inf")) < best:
                    best = metrics["val_rmse"]
                    save("best.pt", step)
            writer.write(step, **metrics, elapsed_s=time.time() - t_start)
            bar.update(step, {k: metrics[k] for k in ("total", "rmse") if k in metrics})
            if step % cfg.train.ckpt_every == 0 or step == cfg.train.steps:
                save("last.pt", step)
            if cfg.train.stop_at and step >= cfg.train.stop_at:
                save("last.pt", step)
                break
    writer.close()
    write_replica_check(model, run_dir)
    return metrics | {"best_val_rmse": best, "steps": step}
