"""Training loop: random crops of analytic data, constraint loss, resumable, torchrun-ready.

One code path for one process and for ``torchrun`` (gloo on CPU): every rank builds the same
data bank, draws its own crops from ``generator_for(seed, rank, step)`` (stateless in the
step, so ``--resume`` reproduces an uninterrupted run), gradients are averaged by DDP, and
only rank 0 writes files. The residual scale of the blocks grows linearly from
``res_scale_start`` to ``res_scale_end`` over the run; the learning rate follows
``common.schedule.warmup_cosine`` down to ``train.lr_floor``.

Everything a user can get wrong (config, data directory, resume checkpoint and its config)
is checked before the run directory is created, so a refused run leaves nothing behind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.checkpoint import (
    CheckpointError,
    check_resume_config,
    clean_stale_tmp,
    load_checkpoint,
    restore_checkpoint,
    save_last_best,
)
from common.config import ConfigError, from_dict, to_dict
from common.distributed import (
    DistInfo,
    all_reduce_mean,
    cleanup_distributed,
    setup_distributed,
    unwrap,
    wrap_ddp,
    write_replica_check,
)
from common.errors import UserError
from common.progress import MetricsWriter, ProgressReporter, get_logger
from common.rundir import last_checkpoint, prepare_run_dir
from common.schedule import warmup_cosine_scheduler
from common.seeding import generator_for, seed_everything
from common.signals import GracefulInterrupt
from nrfix.config import Config
from nrfix.constraints import constraints
from nrfix.data import make_split, random_crops
from nrfix.formats import GridData, read_hdf5
from nrfix.losses import ConstraintLoss, excision_weights
from nrfix.model import NRFixNet, build_model
from nrfix.relax import PriorRelax, build

log = get_logger("nrfix.train")

SELECT_BY = {"loss": "val_loss", "ham_median": "val_log10_ham_median_ratio"}
"""``train.select_by`` -> the validation metric best.pt minimises: the loss, or the mean log10
of median |Ham| after/before on the whole validation grids."""

READ_ERRORS = (ValueError, OSError, KeyError, IndexError, MemoryError)
"""What a reader may raise on a damaged file besides its own one-line errors."""


def _restore(ckpt: dict, path: Path, model: NRFixNet, *states: Any, rng: bool = True) -> int:
    """``restore_checkpoint`` whose refusal names the file and the first mismatched tensor."""
    try:
        return restore_checkpoint(ckpt, model, *states, rng=rng)
    except CheckpointError as exc:
        detail = " ".join(str(exc.__context__ or exc).split())[:200]
        raise CheckpointError(
            f"weights do not fit the model its config describes ({detail})", path=path
        ) from None


def _read_grid(path: Path) -> GridData:
    try:
        return read_hdf5(path)
    except READ_ERRORS as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise UserError(f"cannot read as nrfix HDF5 ({first})", path=path) from None


def load_bank(
    cfg: Config, split: str, data_dir: str | Path | None = None
) -> tuple[torch.Tensor, float]:
    """Stack one split's grids into a bank.

    Parameters
    ----------
    cfg
        Run configuration (``cfg.data`` generates the grids when ``data_dir`` is None).
    split
        ``train``, ``val`` or ``test``.
    data_dir
        Directory of ``<split>_*.h5`` files from ``nrfix make-data``, or None.

    Returns
    -------
    tuple of (torch.Tensor, float)
        The (N, 25, G, G, G) float64 bank and the grid spacing dx.

    Raises
    ------
    common.errors.UserError
        No files, an unreadable file, or grids of different shape or spacing.
    """
    grids: list[GridData]
    if data_dir is not None:
        files = sorted(Path(data_dir).glob(f"{split}_*.h5"))
        if not files:
            raise UserError(f"no {split}_*.h5 files (run `nrfix make-data`)", path=data_dir)
        grids = [_read_grid(f) for f in files]
    else:
        grids = make_split(cfg.data, split)
    dxs = {round(g.dx, 12) for g in grids}
    if len(dxs) != 1 or len({g.vars.shape for g in grids}) != 1:
        where = data_dir if data_dir is not None else "data"
        raise UserError(f"{split} grids must share shape and dx (got dx {sorted(dxs)})", path=where)
    return torch.from_numpy(np.stack([g.vars for g in grids])), grids[0].dx


def res_scale_at(cfg: Config, step: int) -> float:
    """Linear res_scale schedule from start to end over ``train.steps``."""
    frac = min(step / max(cfg.train.steps, 1), 1.0)
    return cfg.model.res_scale_start + frac * (cfg.model.res_scale_end - cfg.model.res_scale_start)


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


def make_optimizer(
    model: NRFixNet, loss_fn: ConstraintLoss, cfg: Config
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over the network and the loss's log-variances (the prior gain in its own group
    with ``train.gain_lr``), and the warm-up + cosine schedule down to ``train.lr_floor``.
    """
    gain = [p for n, p in model.named_parameters() if n == "prior_gain"]
    net_params = [p for n, p in model.named_parameters() if n != "prior_gain"]
    groups: list[dict[str, Any]] = [{"params": net_params + list(loss_fn.parameters())}]
    if gain:  # a scalar that must travel O(1): its own, larger step
        groups.append({"params": gain, "lr": cfg.train.gain_lr, "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    t = cfg.train
    return opt, warmup_cosine_scheduler(opt, t.steps, t.warmup_steps, t.lr_floor)


def fit(
    cfg: Config,
    run_dir: str | Path,
    *,
    device: str = "auto",
    resume: bool = False,
    allow_config_change: bool = False,
    data_dir: str | Path | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train ``NRFixNet`` under ``cfg``; writes config.yaml, metrics.jsonl, checkpoints/.

    Parameters
    ----------
    cfg
        Run configuration.
    run_dir
        Output directory (created only after every input was checked).
    device
        auto | cpu | cuda | cuda:N; ``auto`` defers to ``cfg.train.device``.
    resume
        Continue from ``run_dir/checkpoints/last.pt`` exactly where it stopped.
    allow_config_change
        With ``resume``: accept a model/data config that differs from the checkpoint's.
    data_dir
        Directory from ``nrfix make-data``; None generates the data from ``cfg.data``.

    Returns
    -------
    dict
        ``step``, ``best_val_loss`` (the best ``select_by`` score) and the last metrics.
    """
    existing = last_checkpoint(run_dir)
    if not resume and not overwrite and existing.is_file():
        raise UserError(
            f"{existing} exists: add --resume to continue that run (or --overwrite to start over)"
        )
    if cfg.model.on_prior:  # whole grids of several sizes on top of the Newton prior
        from nrfix.prior_train import fit_on_prior

        return fit_on_prior(cfg, Path(run_dir), data_dir, resume)
    info = setup_distributed(cfg.train.device if device == "auto" else device)
    try:
        return _fit(cfg, Path(run_dir), info, resume, allow_config_change, data_dir)
    finally:
        cleanup_distributed()


@dataclass
class _Run:
    """What the loop and ``_save`` share."""

    cfg: Config
    run_dir: Path
    info: DistInfo
    model: NRFixNet
    loss_fn: ConstraintLoss
    opt: torch.optim.Optimizer
    sched: Any
    best: float = math.inf

    def save(self, step: int, is_best: bool = False) -> None:
        """Rank 0 writes last.pt (and best.pt)."""
        save_last_best(
            self.run_dir,
            is_main=self.info.is_main,
            is_best=is_best,
            step=step,
            config=to_dict(self.cfg),
            model=self.model,
            optimizer=self.opt,
            scheduler=self.sched,
            extra={
                "loss_log_var": self.loss_fn.log_var.detach().cpu().tolist(),
                "best_val": self.best,
            },
        )


def _resume_checkpoint(cfg: Config, run_dir: Path, allow: bool, info: DistInfo) -> dict:
    """The checkpoint to resume from, its config checked against ``cfg``."""
    path = last_checkpoint(run_dir)
    if not path.is_file():
        raise UserError(f"--resume: {path} does not exist")
    ckpt = load_checkpoint(path, map_location=info.device)
    changed = check_resume_config(ckpt["config"], to_dict(cfg), allow=allow, source=path)
    if changed:
        log.warning("resuming with a changed config (--allow-config-change): %s", changed)
    return ckpt


def _start(cfg: Config, run_dir: Path, info: DistInfo, data: Any) -> _Run:
    """Model, loss and optimizer; then (inputs all checked) the run directory is made."""
    bank, dx = data
    model = build_model(cfg).to(info.device)
    loss_fn = ConstraintLoss(cfg.loss).to(info.device)
    ref = loss_fn.set_reference(bank, dx)
    log.info("input scales: <Ham^2> %.3e, <|Mom|^2> %.3e (ratio floors)", ref[0], ref[1])
    opt, sched = make_optimizer(model, loss_fn, cfg)
    run = _Run(cfg, run_dir, info, model, loss_fn, opt, sched)
    if info.is_main:
        prepare_run_dir(run_dir, cfg, is_main=True)
        for folder in (run_dir, run_dir / "checkpoints"):
            for stale in clean_stale_tmp(folder):
                log.info("removed stale temporary file %s", stale)
    return run


def _fit(
    cfg: Config,
    run_dir: Path,
    info: DistInfo,
    resume: bool,
    allow: bool,
    data_dir: str | Path | None,
) -> dict[str, Any]:
    seed_everything(cfg.train.seed)
    ckpt = _resume_checkpoint(cfg, run_dir, allow, info) if resume else None
    bank, dx = load_bank(cfg, "train", data_dir)
    val_bank = load_bank(cfg, "val", data_dir)[0].to(info.device)
    if cfg.data.crop > min(bank.shape[2:]):
        where = data_dir if data_dir is not None else "data.crop"
        raise UserError(
            f"data.crop={cfg.data.crop} larger than the grid {tuple(bank.shape[2:])}", path=where
        )
    run = _start(cfg, run_dir, info, (bank, dx))
    step = 0
    if ckpt is not None:
        step = _restore(ckpt, last_checkpoint(run_dir), run.model, run.opt, run.sched)
        run.loss_fn.log_var.data.copy_(torch.as_tensor(ckpt["extra"]["loss_log_var"]))
        run.best = float(ckpt["extra"].get("best_val", math.inf))
        log.info("resumed from %s at step %d", last_checkpoint(run_dir), step)
    log.info("inputs checked; training in %s from step %d", run_dir, step)
    return _loop(run, step, resume, bank, (val_bank, dx))


def _loop(run: _Run, step: int, resume: bool, bank: torch.Tensor, val: Any) -> dict[str, Any]:
    """The optimisation loop (nanoGPT-style: explicit steps, validation and checkpoints)."""
    cfg, info, model, loss_fn = run.cfg, run.info, run.model, run.loss_fn
    val_bank, dx = val
    ddp = wrap_ddp(model, info)
    params = [p for g in run.opt.param_groups for p in g["params"]]
    gain = getattr(model, "prior_gain", None)
    metrics: dict[str, Any] = {}
    writer = MetricsWriter(
        run.run_dir / "metrics.jsonl", info.is_main, resume_step=step if resume else None
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
            if gain is not None:
                metrics["prior_gain"] = float(gain.detach())
            run.opt.zero_grad(set_to_none=True)
            loss.backward()
            if info.is_distributed:  # the loss's log-variances live outside DDP
                for p in loss_fn.parameters():
                    if p.grad is not None:
                        p.grad = all_reduce_mean(p.grad)
            if cfg.train.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.train.grad_clip)
            run.opt.step()
            run.sched.step()
            step += 1
            # every rank must stop on the same step (a rank left in a collective would hang),
            # so the stop request travels with the metrics' all-reduce
            metrics["stop_requested"] = float(stop.requested)
            metrics = all_reduce_mean(metrics)
            stopping = metrics.pop("stop_requested") > 0
            if step % cfg.train.log_every == 0 or step == cfg.train.steps:
                writer.write(step, lr=run.sched.get_last_lr()[0], **metrics)
            bar.update(step, metrics)
            if step % cfg.train.ckpt_every == 0 or step == cfg.train.steps:
                metrics.update(_validate_and_save(run, step, val_bank, dx, writer))
            if stopping:
                run.save(step)
                stop.exit()
    model.res_scale = cfg.model.res_scale_end
    write_replica_check(ddp, run.run_dir)
    return {"step": step, "best_val_loss": run.best, **metrics}


def _validate_and_save(
    run: _Run, step: int, val_bank: torch.Tensor, dx: float, writer: MetricsWriter
) -> dict[str, float]:
    """Validate on the whole validation grids; write last.pt, and best.pt when it improved."""
    run.model.res_scale = run.cfg.model.res_scale_end
    val = validate(run.model, run.loss_fn, val_bank, dx, run.cfg)
    writer.write(step, **val)
    score = val[SELECT_BY[run.cfg.train.select_by]]
    is_best = score < run.best
    if is_best:
        run.best = score
    run.save(step, is_best=is_best)
    return val


def load_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[NRFixNet | PriorRelax, Config]:
    """Rebuild the trained network and its config from a checkpoint.

    Parameters
    ----------
    path
        ``best.pt`` or ``last.pt`` of a run.
    device
        Where to put the network.

    Returns
    -------
    tuple of (NRFixNet or PriorRelax, Config)
        The network in eval mode (res_scale = ``res_scale_end``), or the learned relaxation
        (``model.relax_steps`` > 0), and the run's config.

    Raises
    ------
    common.checkpoint.CheckpointError
        Missing, corrupt or foreign file, or weights that do not fit the stored config.
    """
    ckpt = load_checkpoint(path, map_location=device)
    try:
        cfg = from_dict(Config, ckpt["config"], source=str(path))
    except ConfigError as exc:
        raise CheckpointError(f"the config stored in it is invalid ({exc})", path=path) from None
    model = build(cfg).to(device)
    _restore(ckpt, Path(path), model, rng=False)
    model.eval()
    return model, cfg
