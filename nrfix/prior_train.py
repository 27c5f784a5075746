"""Training the learned correction on top of the residual-driven prior (``model.on_prior``).

The prior (:func:`nrfix.newton.newton_correct`) solves the discrete constraints in the bulk,
but holds the cells beside the punctures (excision plus a 2-cell buffer) fixed, and those
cells set the RMS of |Ham| and ||Mom||. The network takes the prior's output and corrects chi
and A_ij in exactly those held cells (:func:`nrfix.model.prior_held`); everything else is the
prior's. It is trained on whole grids of a family mix at two dx (``data.family: mix``), one
grid per step, with :func:`prior_loss` relative to the prior's output on the input's cells,
and best.pt is chosen on the whole validation grids (``train.select_by: guarded_gain``: the
mean log10 after/before of median and RMS |Ham| and ||Mom||).

The prior's outputs are computed once per grid and cached beside the data
(``DATA/prior/<split>_NNN.npz``, or ``RUN_DIR/prior_cache`` without ``--data``), so several
training seeds share them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.checkpoint import save_last_best
from common.config import to_dict
from common.errors import UserError
from common.progress import MetricsWriter, get_logger
from common.rundir import prepare_run_dir
from common.schedule import warmup_cosine_scheduler
from common.seeding import generator_for, seed_everything
from nrfix.config import Config
from nrfix.constraints import constraints
from nrfix.measure import cell_mask

log = get_logger("nrfix.prior_train")


def _grids(cfg: Config, split: str, data_dir: Path | None) -> list[tuple[np.ndarray, float]]:
    from nrfix.data import make_split
    from nrfix.formats import read_hdf5

    if data_dir is None:
        return [(g.vars, g.dx) for g in make_split(cfg.data, split)]
    files = sorted(data_dir.glob(f"{split}_*.h5"))
    if not files:
        raise UserError(f"no {split}_*.h5 files (run `nrfix make-data`)", path=data_dir)
    return [(g.vars, g.dx) for g in (read_hdf5(f) for f in files)]


def prior_bank(cfg: Config, split: str, data_dir: Path | None, cache: Path) -> list[dict[str, Any]]:
    """Input, prior output, dx, the input's cell mask and the prior's norms of every grid."""
    from nrfix.newton import newton_correct

    cache.mkdir(parents=True, exist_ok=True)
    bank = []
    for i, (x, dx) in enumerate(_grids(cfg, split, data_dir)):
        path = cache / f"{split}_{i:03d}_it{cfg.model.prior_iterations}.npz"
        if path.is_file():
            y = np.load(path)["prior"]
        else:
            y, _ = newton_correct(x, dx, iterations=cfg.model.prior_iterations)
            tmp = path.with_name(f".{path.name}.tmp.npz")
            np.savez(tmp, prior=y)
            tmp.replace(path)
        mask = torch.from_numpy(cell_mask(x, cfg.loss.chi_excision))[None]
        yt = torch.from_numpy(y)[None]
        with torch.no_grad():
            ham, mom = _norms(yt, dx, mask)
        bank.append({"x": x, "prior": yt, "dx": dx, "mask": mask, "ham": ham, "mom": mom})
    return bank


def _norms(y: torch.Tensor, dx: float, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Ham^2 and |Mom|^2 on the mask (squares: the gradient of a norm at 0 is NaN)."""
    c = constraints(y, dx)
    return c["Ham"][mask] ** 2, (c["Mom"] ** 2).sum(dim=1)[mask]


def prior_loss(
    y: torch.Tensor, item: dict[str, Any], cell_weight: float, mom_weight: float
) -> torch.Tensor:
    """Log RMS ratios of |Ham| and ||Mom|| (after / prior, input's cells) plus ``cell_weight``
    x the cell-wise mean log ratio of the squares, floored at 1% of the prior's mean square.

    The floor matters: floored at the prior's *median* (~1e-20 for Ham^2 after the prior),
    the cells the prior solved to ~1e-10 within two cells of the held ones dominate the loss,
    whose gradient at the prior was then ~2e6 (0.4 for the RMS terms): any change of the held
    cells raises those cells' log and training moved uphill from the first step.
    """
    ham, mom = _norms(y, item["dx"], item["mask"])
    loss = y.new_zeros(())
    for now, ref, w in ((ham, item["ham"], 1.0), (mom, item["mom"], mom_weight)):
        rms = 0.5 * torch.log(now.mean() / ref.mean().clamp(min=1e-300))
        floor = 0.01 * ref.mean() + 1e-300
        cells = (torch.log(now + floor) - torch.log(ref + floor)).mean() / 2
        loss = loss + w * (rms + cell_weight * cells)
    return loss


@torch.no_grad()
def guarded_scores(model: torch.nn.Module, bank: list[dict[str, Any]]) -> dict[str, float]:
    """Mean over the grids of log10 after/before (input) of the four guarded norms, for the
    network and for the prior alone; ``val_guarded_gain`` is the network's mean.
    """
    from nrfix.measure import GUARDED, compare

    relax = model.whole_grid  # nrfix.relax: checks against the input
    rows = {"net": [], "prior": []}
    per: dict[str, list[float]] = {f"{k}_{w}": [] for k in GUARDED for w in ("net", "prior")}
    for item in bank:
        ref = torch.from_numpy(item["x"])[None]
        y = (model(item["prior"], item["dx"], ref) if relax else model(item["prior"])).numpy()[0]
        for who, v in (("net", y), ("prior", item["prior"].numpy()[0])):
            ratio = compare(item["x"], v, item["dx"])["ratio"]
            logs = [math.log10(max(ratio[k], 1e-300)) for k in GUARDED]
            rows[who].append(float(np.mean(logs)))
            for k, lg in zip(GUARDED, logs):
                per[f"{k}_{who}"].append(lg)
    out = {"val_guarded_gain": float(np.mean(rows["net"]))}
    out["val_guarded_gain_prior"] = float(np.mean(rows["prior"]))
    out.update({f"val_log10_{k}": float(np.mean(v)) for k, v in per.items()})
    return out


def fit_on_prior(
    cfg: Config, run_dir: Path, data_dir: str | Path | None, resume: bool
) -> dict[str, Any]:
    """Train ``cfg.model`` (``on_prior``) on the prior's outputs; writes config.yaml,
    metrics.jsonl and checkpoints/{last,best}.pt into ``run_dir``. Single process, CPU.
    """
    from nrfix.relax import build

    if resume:
        raise UserError("--resume is not supported for model.on_prior runs (they take minutes)")
    if cfg.data.family != "mix":
        log.warning("model.on_prior trained on data.family=%s only (not the mix)", cfg.data.family)
    seed_everything(cfg.train.seed)
    ddir = Path(data_dir) if data_dir is not None else None
    cache = (ddir if ddir is not None else run_dir / "prior_cache") / "prior"
    train_bank = prior_bank(cfg, "train", ddir, cache)
    val_bank = prior_bank(cfg, "val", ddir, cache)
    model = build(cfg)
    t = cfg.train
    opt = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    sched = warmup_cosine_scheduler(opt, t.steps, t.warmup_steps, t.lr_floor)
    prepare_run_dir(run_dir, cfg, is_main=True)
    with MetricsWriter(run_dir / "metrics.jsonl", True, resume_step=None) as writer:
        # step 0: the untrained network is the prior exactly; best.pt stays that unless
        # training improves the validation score
        model.res_scale = cfg.model.res_scale_end
        metrics = guarded_scores(model, val_bank)
        writer.write(0, **metrics)
        best = metrics["val_guarded_gain"]
        save_last_best(
            run_dir, is_main=True, is_best=True, step=0, config=to_dict(cfg), model=model,
            optimizer=opt, scheduler=sched, extra={"loss_log_var": [0.0, 0.0], "best_val": best},
        )  # fmt: skip
        for step in range(1, t.steps + 1):
            model.res_scale = cfg.model.res_scale_start + min(step / t.steps, 1.0) * (
                cfg.model.res_scale_end - cfg.model.res_scale_start
            )
            gen = generator_for(t.seed, 0, step)
            item = train_bank[int(torch.randint(0, len(train_bank), (1,), generator=gen))]
            loss = prior_loss(
                model(item["prior"], item["dx"]), item, cfg.loss.cell_weight, cfg.loss.mom_weight
            )
            opt.zero_grad(set_to_none=True)
            if loss.requires_grad:  # a grid with nothing held (exact Kerr-Schild) gives none
                loss.backward()
                if t.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
                opt.step()
            sched.step()
            if step % t.log_every == 0:
                writer.write(step, loss=float(loss.detach()), lr=sched.get_last_lr()[0])
            if step % t.ckpt_every == 0 or step == t.steps:
                model.res_scale = cfg.model.res_scale_end
                metrics = guarded_scores(model, val_bank)
                writer.write(step, **metrics)
                is_best = metrics["val_guarded_gain"] < best
                best = min(best, metrics["val_guarded_gain"])
                save_last_best(
                    run_dir, is_main=True, is_best=is_best, step=step, config=to_dict(cfg),
                    model=model, optimizer=opt, scheduler=sched,
                    extra={"loss_log_var": [0.0, 0.0], "best_val": best},
                )  # fmt: skip
    model.res_scale = cfg.model.res_scale_end
    return {"step": t.steps, "best_val_loss": best, **metrics}
