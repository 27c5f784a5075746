"""The optimisation loop behind ``fcpredict.train.fit`` (checkpoints, resume, DDP, signals)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from fcpredict.config import Config
from fcpredict.losses import AdaptiveWeights
from fcpredict.model import build_model
from fcpredict.train import TERMS, evaluate_model, load_samples, sample_terms, split_folders


def _schedule(cfg: Config):
    tc = cfg.train

    def factor(step: int) -> float:
        if step < tc.warmup_steps:
            return (step + 1) / max(1, tc.warmup_steps)
        t = (step - tc.warmup_steps) / max(1, tc.steps - tc.warmup_steps)
        return tc.lr_min_factor + (1 - tc.lr_min_factor) * 0.5 * (1 + math.cos(math.pi * min(t, 1)))

    return factor


def _step_loss(
    model, train, cfg: Config, weights: AdaptiveWeights, rank: int, step: int
) -> tuple[torch.Tensor, dict[str, float]]:
    from common.distributed import all_reduce_mean
    from common.seeding import generator_for

    gen = generator_for(cfg.seed, rank, step)
    idx = torch.randint(len(train), (cfg.train.batch_size,), generator=gen).tolist()
    sums: dict[str, Any] = {k: 0.0 for k in TERMS}
    counts = {k: 0 for k in TERMS}
    for i in idx:
        for k, v in sample_terms(model, train[i], cfg, gen).items():
            sums[k] = sums[k] + v
            counts[k] += 1
    terms = {k: sums[k] / counts[k] for k in TERMS if counts[k]}
    vals = all_reduce_mean({k: float(terms[k].detach()) if k in terms else -1.0 for k in TERMS})
    present = {k: v for k, v in vals.items() if v >= 0}
    weights.update(present)
    loss = weights.combine({k: v for k, v in terms.items()})
    return loss, present


def run_training(cfg: Config, run_dir: Path, device_spec: str, resume: bool) -> dict[str, float]:
    """See fcpredict.train.fit."""
    from common.checkpoint import load_checkpoint, restore_checkpoint, save_checkpoint
    from common.config import to_dict
    from common.distributed import (
        average_gradients,
        barrier,
        broadcast_module,
        cleanup_distributed,
        setup_distributed,
        write_replica_check,
    )
    from common.progress import MetricsWriter, ProgressReporter, get_logger
    from common.rundir import best_checkpoint, last_checkpoint, prepare_run_dir
    from common.seeding import seed_everything
    from common.signals import GracefulInterrupt

    info = setup_distributed(device_spec)
    log = get_logger("fcpredict.train")
    seed_everything(cfg.seed)
    dtype = torch.float64 if cfg.train.dtype == "float64" else torch.float32
    prepare_run_dir(run_dir, cfg, is_main=info.is_main)
    train_f, val_f = split_folders(cfg)
    train = load_samples(train_f, cfg, dtype, info.device)
    val = load_samples(val_f, cfg, dtype, info.device) if val_f else train
    log.info(
        "train folders %d (%d samples), validation folders %d", len(train_f), len(train), len(val_f)
    )
    model = build_model(cfg.model).to(info.device, dtype)
    broadcast_module(model)  # no-op in one process
    tc = cfg.train
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(cfg))
    ema = torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(tc.ema_decay or 0.0)
    )
    weights = AdaptiveWeights(
        {"energy": tc.w_energy, "forces": tc.w_forces, "fc": tc.w_fc, "eigen": tc.w_eigen},
        enabled=tc.adaptive,
    )
    step, best = 0, math.inf
    if resume:
        ckpt = load_checkpoint(last_checkpoint(run_dir), map_location=info.device)
        step = restore_checkpoint(ckpt, model, opt, sched, ema)
        weights.load_state_dict(ckpt["extra"].get("adaptive", {}))
        best = float(ckpt["extra"].get("best", math.inf))
        # the checkpoint holds the unwrapped EMA weights; restore the average count too
        ema.n_averaged.fill_(int(ckpt["extra"].get("ema_n", step)))
    cfg_dict = to_dict(cfg)
    metrics = MetricsWriter(
        run_dir / "metrics.jsonl", enabled=info.is_main, resume_step=step if resume else None
    )

    def save(path: Path) -> None:
        if info.is_main:
            save_checkpoint(
                path,
                step=step,
                config=cfg_dict,
                model=model,
                optimizer=opt,
                scheduler=sched,
                ema=ema,
                extra={
                    "adaptive": weights.state_dict(),
                    "best": best,
                    "ema_n": int(ema.n_averaged),
                },
            )

    final: dict[str, float] = {}
    with (
        GracefulInterrupt() as stop,
        ProgressReporter(tc.steps, "fcpredict train", enabled=info.is_main, start=step) as bar,
    ):
        while step < tc.steps:
            model.train()
            loss, vals = _step_loss(model, train, cfg, weights, info.rank, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            average_gradients(model.parameters())
            if tc.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            opt.step()
            sched.step()
            ema.update_parameters(model)
            step += 1
            if step % tc.log_every == 0 or step == tc.steps:
                row = {"loss": float(loss.detach()), "lr": sched.get_last_lr()[0], **vals}
                metrics.write(step, **row)
                bar.update(step, row)
            if step % tc.eval_every == 0 or step == tc.steps:
                if info.is_main:
                    final = evaluate_model(ema.module.eval() if tc.ema_decay else model.eval(), val)
                    metrics.write(step, **{f"val_{k}": v for k, v in final.items()})
                    score = final.get("fc_rel_frob", final.get("force_mae", math.inf))
                    if score < best:
                        best = score
                        save(best_checkpoint(run_dir))
                    save(last_checkpoint(run_dir))
                barrier()
            if stop.requested:
                save(last_checkpoint(run_dir))
                barrier()
                stop.exit()
    save(last_checkpoint(run_dir))
    write_replica_check(model, run_dir)
    cleanup_distributed()
    return final
