"""A tiny training run built only from ``common``: the subject of the resume, DDP and signal tests.

Run directly (``python toy_train.py --run-dir D --steps 10``) or under torchrun. Each step draws
its batch from ``generator_for(seed, rank, step)`` and applies dropout from the global RNG, so an
exact resume needs both the per-step generator and the restored RNG state.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from common.checkpoint import load_checkpoint, restore_checkpoint, save_checkpoint
from common.config import load_config, to_dict
from common.distributed import (
    all_reduce_mean,
    cleanup_distributed,
    setup_distributed,
    wrap_ddp,
    write_replica_check,
)
from common.progress import MetricsWriter, ProgressReporter, get_logger
from common.rundir import last_checkpoint, prepare_run_dir
from common.seeding import generator_for, seed_everything
from common.signals import GracefulInterrupt


@dataclass(frozen=True)
class ToyConfig:
    """Settings of the toy run."""

    steps: int = 10
    lr: float = 0.05
    batch: int = 16
    hidden: int = 8
    seed: int = 0
    ckpt_every: int = 1
    sleep_s: float = 0.0


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--run-dir", required=True)
    p.add_argument("--steps", type=int)
    p.add_argument("--ckpt-every", type=int)
    p.add_argument("--sleep-s", type=float)
    p.add_argument("--resume", action="store_true")
    return p.parse_args()


def main() -> None:
    args = _args()
    info = setup_distributed("cpu")
    cfg = load_config(
        ToyConfig,
        overrides={"steps": args.steps, "ckpt_every": args.ckpt_every, "sleep_s": args.sleep_s},
    )
    seed_everything(cfg.seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, cfg.hidden), torch.nn.Tanh(), torch.nn.Linear(cfg.hidden, 1)
    )
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.7)
    start = 0
    if args.resume:
        start = restore_checkpoint(load_checkpoint(last_checkpoint(args.run_dir)), net, opt, sched)
    model = wrap_ddp(net, info)
    run_dir = prepare_run_dir(args.run_dir, cfg, info.is_main)
    log = get_logger("toy.train")
    metrics = MetricsWriter(run_dir / "metrics.jsonl", info.is_main, start if args.resume else None)

    def save(step: int) -> None:
        if info.is_main:
            save_checkpoint(
                last_checkpoint(run_dir),
                step=step,
                config=to_dict(cfg),
                model=model,
                optimizer=opt,
                scheduler=sched,
            )

    with (
        GracefulInterrupt() as stop,
        ProgressReporter(cfg.steps, "toy", info.is_main, 0.0, log, start) as bar,
    ):
        for step in range(start, cfg.steps):
            gen = generator_for(cfg.seed, info.rank, step)
            x = torch.randn(cfg.batch, 4, generator=gen)
            y = torch.sin(x).sum(dim=1, keepdim=True)
            loss = F.mse_loss(F.dropout(model(x), p=0.2, training=True), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            mean_loss = all_reduce_mean(float(loss))
            metrics.write(step + 1, loss=mean_loss)
            bar.update(step + 1, {"loss": mean_loss})
            if (step + 1) % cfg.ckpt_every == 0 or stop.requested:
                save(step + 1)
            if stop.requested:
                stop.exit()
            time.sleep(cfg.sleep_s)
    write_replica_check(model, run_dir)
    metrics.close()
    cleanup_distributed()


if __name__ == "__main__":
    main()
