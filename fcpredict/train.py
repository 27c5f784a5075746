"""Training: energies, forces and force constants of phonopy folders -> an energy model.

``fit(cfg, run_dir, *, device, resume, allow_config_change)`` is the one entry point, for one
process and for torchrun (gloo/nccl; the process group is set up here, not in the CLI). Every
rank draws its own structures from a generator seeded by (seed, rank, step) and gradients
are all-reduced by hand (double backward through the Hessian rows is not a DDP hook path),
so replicas stay identical and ``resume=True`` repeats the uninterrupted run exactly.
AdamW, warm-up + cosine LR (common.schedule, floor ``train.lr_min_factor``), gradient
clipping, adaptive loss combination (losses.py), optional rotation augmentation.

The predictor: an EMA of the weights is kept with decay min(ema_decay, (1 + n) / (10 + n))
at update n (no lag in short runs). At every validation both the raw weights and the EMA are
scored; the better one is recorded in the checkpoint (``extra.predictor``), ``best.pt`` is
the checkpoint whose predictor scored best, and :func:`load_model` (used by ``predict``,
``demo`` and the benches) loads exactly those weights.

Order of a run: data are read and checked (readers refuse non-finite or malformed files),
a resumed run's stored config is compared with the new one, stale temporary files of killed
writers are removed, and only then is the run directory written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from common.errors import UserError
from fcpredict.config import Config
from fcpredict.losses import AdaptiveWeights
from fcpredict.model import build_model, calibrate_output_scale
from fcpredict.train_loop import evaluate_model, load_samples, split_folders, step_loss
from fcpredict.train_loop import validation_score as _score

__all__ = ["fit", "load_model", "predictor_state"]

_RESUME_SECTIONS = ("model", "data", "seed")


@dataclass
class _State:
    """Everything that evolves during training (and goes into a checkpoint)."""

    model: torch.nn.Module
    opt: torch.optim.Optimizer
    sched: Any
    ema: torch.optim.swa_utils.AveragedModel
    weights: AdaptiveWeights
    step: int = 0
    best: float = math.inf
    predictor: str = "model"


def _ema_avg_fn(decay: float) -> Any:
    """EMA update with the warm-up decay min(decay, (1 + n) / (10 + n))."""

    def avg(avg_p: torch.Tensor, p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        d = torch.clamp((1.0 + n) / (10.0 + n), max=decay).to(p.dtype)
        return avg_p + (p - avg_p) * (1.0 - d)

    return avg


def _dtype(cfg: Config) -> torch.dtype:
    return torch.float64 if cfg.train.dtype == "float64" else torch.float32


def _build_state(cfg: Config, device: torch.device, train: list | None) -> _State:
    """Model, optimiser, schedule, EMA and loss weights; ``train`` samples (None on resume)
    calibrate the per-element output scale before the EMA copies the model.
    """
    from common.distributed import broadcast_module
    from common.schedule import warmup_cosine_scheduler

    tc = cfg.train
    model = build_model(cfg.model).to(device, _dtype(cfg))
    if train is not None:
        calibrate_output_scale(model, train)
    broadcast_module(model)  # no-op in one process
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    sched = warmup_cosine_scheduler(opt, tc.steps, tc.warmup_steps, tc.lr_min_factor)
    ema = torch.optim.swa_utils.AveragedModel(model, avg_fn=_ema_avg_fn(tc.ema_decay))
    weights = AdaptiveWeights(
        {"energy": tc.w_energy, "forces": tc.w_forces, "fc": tc.w_fc, "eigen": tc.w_eigen},
        enabled=tc.adaptive,
    )
    return _State(model, opt, sched, ema, weights)


def _restore(state: _State, ckpt: dict[str, Any]) -> None:
    from common.checkpoint import restore_checkpoint

    state.step = restore_checkpoint(ckpt, state.model, state.opt, state.sched, state.ema)
    extra = ckpt.get("extra") or {}
    state.weights.load_state_dict(extra.get("adaptive", {}))
    state.best = float(extra.get("best", math.inf))
    state.predictor = str(extra.get("predictor", "ema"))
    # the checkpoint holds the unwrapped EMA weights; restore the average count too
    state.ema.n_averaged.fill_(int(extra.get("ema_n", state.step)))


def _save(state: _State, run_dir: Path, cfg_dict: dict, is_main: bool, is_best: bool) -> None:
    from common.checkpoint import save_last_best

    save_last_best(
        run_dir,
        is_main=is_main,
        is_best=is_best,
        step=state.step,
        config=cfg_dict,
        model=state.model,
        optimizer=state.opt,
        scheduler=state.sched,
        ema=state.ema,
        extra={
            "adaptive": state.weights.state_dict(),
            "best": state.best,
            "ema_n": int(state.ema.n_averaged),
            "predictor": state.predictor,
        },
    )


def _validate(state: _State, val: list, ema_on: bool) -> dict[str, Any]:
    """Score the raw and (if on) the EMA weights; the better one becomes the predictor."""
    raw = evaluate_model(state.model.eval(), val)
    out: dict[str, Any] = {"score_raw": _score(raw)}
    chosen, name = raw, "model"
    if ema_on:
        avg = evaluate_model(state.ema.module.eval(), val)
        out["score_ema"] = _score(avg)
        if _score(avg) <= _score(raw):
            chosen, name = avg, "ema"
    state.predictor = name
    return {**chosen, **out}


def _train_step(state: _State, cfg: Config, train: list, rank: int) -> dict[str, float]:
    from common.distributed import average_gradients

    state.model.train()
    loss, vals = step_loss(state.model, train, cfg, state.weights, rank, state.step)
    if not all(math.isfinite(v) for v in vals.values()):  # rank-averaged: all ranks agree
        raise UserError(
            f"training diverged at step {state.step + 1} (non-finite loss {vals}); nothing "
            "saved for this step: lower train.lr or resume from the last checkpoint"
        )
    state.opt.zero_grad(set_to_none=True)
    loss.backward()
    average_gradients(state.model.parameters())
    if cfg.train.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), cfg.train.grad_clip)
    state.opt.step()
    state.sched.step()
    state.ema.update_parameters(state.model)
    state.step += 1
    return {"loss": float(loss.detach()), "lr": state.sched.get_last_lr()[0], **vals}


def _loop(state: _State, cfg: Config, run_dir: Path, info: Any, data: tuple) -> dict[str, Any]:
    """The explicit optimisation loop: step, log, validate + checkpoint, stop on a signal."""
    from common.config import to_dict
    from common.distributed import all_reduce_mean, barrier
    from common.progress import MetricsWriter, ProgressReporter
    from common.signals import GracefulInterrupt

    train, val, resumed = data
    tc, cfg_dict = cfg.train, to_dict(cfg)
    metrics = MetricsWriter(
        run_dir / "metrics.jsonl", enabled=info.is_main, resume_step=state.step if resumed else None
    )
    final: dict[str, Any] = {}
    with (
        GracefulInterrupt() as stop,
        ProgressReporter(
            tc.steps, "fcpredict train", enabled=info.is_main, start=state.step
        ) as bar,
    ):
        while state.step < tc.steps:
            row = _train_step(state, cfg, train, info.rank)
            if state.step % tc.log_every == 0 or state.step == tc.steps:
                metrics.write(state.step, **row)
                bar.update(state.step, row)
            if state.step % tc.eval_every == 0 or state.step == tc.steps:
                if info.is_main:
                    final = _validate(state, val, tc.ema_decay > 0)
                    metrics.write(
                        state.step,
                        predictor=state.predictor,
                        **{f"val_{k}": v for k, v in final.items()},
                    )
                    is_best = _score(final) < state.best
                    state.best = min(state.best, _score(final))
                    _save(state, run_dir, cfg_dict, info.is_main, is_best)
                barrier()
            # every rank stops after the same step, even if the signal reached them apart
            if all_reduce_mean(1.0 if stop.requested else 0.0) > 0:
                _save(state, run_dir, cfg_dict, info.is_main, False)
                barrier()
                stop.exit()
    _save(state, run_dir, cfg_dict, info.is_main, False)
    return {**final, "predictor": state.predictor, "step": state.step}


def _resume_checkpoint(run_dir: Path, cfg: Config, allow: bool, device: Any) -> dict[str, Any]:
    """The run's last.pt, after checking that its model/data config matches ``cfg``."""
    from common.checkpoint import check_resume_config, load_checkpoint
    from common.config import to_dict
    from common.rundir import last_checkpoint

    path = last_checkpoint(run_dir)
    ckpt = load_checkpoint(path, map_location=device)
    check_resume_config(
        ckpt.get("config") or {}, to_dict(cfg), sections=_RESUME_SECTIONS, allow=allow, source=path
    )
    return ckpt


def fit(
    cfg: Config,
    run_dir: str | Path,
    *,
    device: str = "auto",
    resume: bool = False,
    allow_config_change: bool = False,
) -> dict[str, Any]:
    """Train ``cfg`` into ``run_dir``.

    Parameters
    ----------
    cfg
        Full configuration (``cfg.data.dirs`` must name phonopy folders).
    run_dir
        Receives config.yaml, metrics.jsonl, checkpoints/{last,best}.pt, ddp_check.json.
    device
        'auto', 'cpu', 'cuda' or 'cuda:N' (each torchrun rank picks its own GPU).
    resume
        Continue from ``run_dir/checkpoints/last.pt`` exactly where it stopped.
    allow_config_change
        With ``resume``: accept a model/data/seed config that differs from the checkpoint's.

    Returns
    -------
    dict
        Validation metrics of the predictor at the last validation (fc_rel_frob, fc_mae,
        force_mae, score_raw, score_ema), ``predictor`` ('model' or 'ema') and ``step``.

    Raises
    ------
    common.errors.UserError
        Bad or missing data, a missing/corrupt checkpoint, or a changed config on resume.
    """
    from common.checkpoint import clean_stale_tmp
    from common.distributed import cleanup_distributed, setup_distributed, write_replica_check
    from common.progress import get_logger
    from common.rundir import prepare_run_dir
    from common.seeding import seed_everything

    run_dir = Path(run_dir)
    info = setup_distributed(device)
    try:
        seed_everything(cfg.seed)
        train_f, val_f = split_folders(cfg)
        train = load_samples(train_f, cfg, _dtype(cfg), info.device)
        val = load_samples(val_f, cfg, _dtype(cfg), info.device) if val_f else train
        ckpt = (
            _resume_checkpoint(run_dir, cfg, allow_config_change, info.device) if resume else None
        )
        log = get_logger("fcpredict.train")
        log.info(
            "inputs checked: train folders %d (%d samples), validation folders %d",
            len(train_f),
            len(train),
            len(val_f),
        )
        if info.is_main:
            clean_stale_tmp(run_dir)
            clean_stale_tmp(run_dir / "checkpoints")
        prepare_run_dir(run_dir, cfg, is_main=info.is_main)
        state = _build_state(cfg, info.device, None if ckpt is not None else train)
        if ckpt is not None:
            _restore(state, ckpt)
            log.info("resumed from %s at step %d", run_dir / "checkpoints/last.pt", state.step)
        out = _loop(state, cfg, run_dir, info, (train, val, ckpt is not None))
        write_replica_check(state.model, run_dir)
        return out
    finally:
        cleanup_distributed()


def predictor_state(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights a checkpoint marks as its predictor (EMA or raw; see module docstring)."""
    extra = ckpt.get("extra") or {}
    which = extra.get("predictor") or ("ema" if ckpt.get("ema") else "model")
    if which == "ema" and ckpt.get("ema"):
        return {k.removeprefix("module."): v for k, v in ckpt["ema"].items() if k != "n_averaged"}
    return ckpt["model"]


def load_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, Config]:
    """Rebuild the predictor of a checkpoint in eval mode.

    Parameters
    ----------
    path
        A checkpoint written by :func:`fit` (``best.pt`` or ``last.pt``).
    device
        'cpu', 'auto', 'cuda', 'cuda:N' or a ``torch.device``.

    Returns
    -------
    tuple
        (model in eval mode with the checkpoint's predictor weights and dtype, its Config).

    Raises
    ------
    common.checkpoint.CheckpointError
        Missing, corrupt or foreign file, or weights that do not fit the stored config.
    """
    from common.checkpoint import CheckpointError, load_checkpoint
    from common.config import ConfigError, from_dict
    from common.device import resolve_device

    dev = device if isinstance(device, torch.device) else resolve_device(device)
    ckpt = load_checkpoint(path, map_location="cpu")
    try:
        cfg = from_dict(Config, ckpt["config"], source=f"checkpoint {path}")
    except ConfigError as exc:
        raise CheckpointError(f"{path}: stored config does not fit this version ({exc})") from None
    model = build_model(cfg.model)
    try:
        model.load_state_dict(predictor_state(ckpt))
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(f"{path}: weights do not fit the stored config ({first})") from None
    return model.to(dev, _dtype(cfg)).eval(), cfg
