"""PhysX fusion ablation on the breathing phantom: deformation models side by side, 3 seeds.

For each seed and scan variant (irregular breathing trace; optionally sparse views or
Poisson noise) the phantom is simulated once, then `physx4dct.train.fit` reconstructs it with
each deformation model (HexPlane only, anchors only, fixed alpha 0.99, learnable alpha, ...).
The final model is voxelised at the times of the ground-truth phase volumes: PSNR3D / SSIM3D
(X²-Gaussian convention), mean over phases, and the wall time of the fit. Writes
results/physx4dct/ablation.json (common.results): per mode mean ± sd over seeds and the
paired difference to HexPlane only; a difference is called better/worse only when every seed
agrees in sign and the mean exceeds the seed spread (sd of the paired differences), else tie.

    OMP_NUM_THREADS=1 .venv/bin/python bench/physx4dct_ablation.py --iterations 300
    .venv/bin/python bench/physx4dct_ablation.py --scale cpu --seeds 0     # cpu preset scale

`--modes` picks any named row (the follow-ups in EXTRA_MODES included), `--resume` skips
finished fits and continues interrupted ones from their last checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

MODES: dict[str, dict] = {
    "HexPlane only": {"fusion_mode": "hexplane"},
    "anchor only": {"fusion_mode": "anchor"},
    "fixed alpha 0.99": {"fusion_mode": "fixed_alpha", "alpha": 0.99},
    "learnable alpha": {"fusion_mode": "learnable_alpha"},
    "uncertainty_gated": {"fusion_mode": "uncertainty_gated"},
    "bounded_perturb (freeze_rho+rmsnorm)": {
        "fusion_mode": "bounded_perturb",
        "schedule_mode": "freeze_rho",
        "residual_mode": "rmsnorm",
    },
}

VARIANTS: dict[str, dict] = {
    "irregular": {},
    "sparse": {"sparse_stride": 2},
    "noisy": {"photons": 2e4},  # Poisson quantum noise, ~6 % of the mean line integral
}
"""Scan variants (all on the irregular trace): their phantom settings over the scale's."""

_TG = {"anchor_time_encoding": "grid"}  # the learnt time code of the follow-up rows
_TG_ANCHOR = {"fusion_mode": "anchor", **_TG}
_TG_ALPHA99 = {"fusion_mode": "fixed_alpha", "alpha": 0.99, **_TG}

# follow-up rows (run on request with --modes): is the gap the HexPlane scale/rotation
# change lost to the (1 - alpha) weight, or the anchor field's spatial resolution?
EXTRA_MODES: dict[str, dict] = {
    "fixed alpha 0.99 + full HexPlane scale-rot": {
        "fusion_mode": "fixed_alpha",
        "alpha": 0.99,
        "hex_scale_rot": "full",
    },
    "anchor only 512 anchors": {"fusion_mode": "anchor", "num_anchors": 512},
    "fixed alpha 0.99 + anchor lr x10": {
        "fusion_mode": "fixed_alpha",
        "alpha": 0.99,
        "anchor_lr_scale": 0.1,
    },
    "fixed alpha 0.99 + smooth skinning": {
        "fusion_mode": "fixed_alpha",
        "alpha": 0.99,
        "anchor_temperature": 0.1,
    },
    "bounded_perturb + identity H": {
        "fusion_mode": "bounded_perturb",
        "schedule_mode": "freeze_rho",
        "residual_mode": "identity",
    },
    # the anchors' time input as a learnt code on a time grid (one code for all anchors)
    "anchor only + time grid": _TG_ANCHOR,
    "fixed alpha 0.99 + time grid": _TG_ALPHA99,
    "fixed alpha 0.99 + time grid + anchor lr x10": {**_TG_ALPHA99, "anchor_lr_scale": 0.1},
    "fixed alpha 0.99 + time grid + full HexPlane scale-rot": {
        **_TG_ALPHA99,
        "hex_scale_rot": "full",
    },
    "anchor only + time grid + 512 anchors": {**_TG_ANCHOR, "num_anchors": 512},
    "fixed alpha 0.99 + time grid + smooth skinning": {**_TG_ALPHA99, "anchor_temperature": 0.1},
    "anchor only + time grid + 512 anchors + 6 pos bands": {
        **_TG_ANCHOR,
        "num_anchors": 512,
        "anchor_pos_bands": 6,
    },
    "anchor only + time grid + 6 pos bands": {**_TG_ANCHOR, "anchor_pos_bands": 6},
    "HexPlane only + lr x2": {"fusion_mode": "hexplane", "train.lr_hexplane": 0.032},
    "fixed alpha 0.5 + time grid + lr x2": {
        "fusion_mode": "fixed_alpha",
        "alpha": 0.5,
        **_TG,
        "train.lr_hexplane": 0.032,
    },
    "uncertainty_gated + time grid": {"fusion_mode": "uncertainty_gated", **_TG},
    "orthogonal + time grid": {"fusion_mode": "orthogonal", "alpha": 0.99, **_TG},
    "orthogonal": {"fusion_mode": "orthogonal", "alpha": 0.99},
    "reverse_orthogonal": {"fusion_mode": "reverse_orthogonal", "alpha": 0.99},
    "orthogonal strength 0.5": {"fusion_mode": "orthogonal", "alpha": 0.99, "ortho_strength": 0.5},
    "orthogonal alpha 0.5 + time grid": {"fusion_mode": "orthogonal", "alpha": 0.5, **_TG},
    "fixed alpha 0.99 + time grid + leakage": {**_TG_ALPHA99, "lp_enable": True},
    "fixed alpha 0.99 + time grid + sharp skinning": {**_TG_ALPHA99, "anchor_temperature": 0.002},
    "fixed alpha 0.5 + time grid": {"fusion_mode": "fixed_alpha", "alpha": 0.5, **_TG},
    "learnable alpha + time grid": {"fusion_mode": "learnable_alpha", **_TG},
    "bounded_perturb + time grid": {**MODES["bounded_perturb (freeze_rho+rmsnorm)"], **_TG},
    "uncertainty_gated free gate + time grid": {
        "fusion_mode": "uncertainty_gated",
        "gamma_max": 0.0,
        **_TG,
    },
    "uncertainty_gated free gate from 0.5 + time grid": {
        "fusion_mode": "uncertainty_gated",
        "gamma_max": 0.0,
        "sigma_L2": 1.0,
        **_TG,
    },
    "learnable alpha + time grid + distill": {
        "fusion_mode": "learnable_alpha",
        "lambda_distill": 1.0,
        **_TG,
    },
    "learnable alpha + time grid + distill x10": {
        "fusion_mode": "learnable_alpha",
        "lambda_distill": 10.0,
        **_TG,
    },
    "learnable alpha + time grid + distill x100": {
        "fusion_mode": "learnable_alpha",
        "lambda_distill": 100.0,
        **_TG,
    },
    # the HexPlane branch at 2x its lr (its share ~0.5 halves its speed under Adam), the
    # anchor network and time grid at their usual absolute lrs
    "learnable alpha + time grid + distill x10 + HexPlane lr x2": {
        "fusion_mode": "learnable_alpha",
        "lambda_distill": 10.0,
        **_TG,
        "train.lr_hexplane": 0.032,
        "anchor_lr_scale": 0.005,
        "anchor_time_lr_scale": 0.5,
    },
    "fixed alpha 0.5 + time grid + distill x10": {
        "fusion_mode": "fixed_alpha",
        "alpha": 0.5,
        "lambda_distill": 10.0,
        **_TG,
    },
    "fixed alpha 0.99 + time grid + distill x10": {**_TG_ALPHA99, "lambda_distill": 10.0},
    "HexPlane only + lr x0.5": {"fusion_mode": "hexplane", "train.lr_hexplane": 0.008},
    "fixed alpha 0.1": {"fusion_mode": "fixed_alpha", "alpha": 0.1},
    "fixed alpha 0.1 + time grid": {"fusion_mode": "fixed_alpha", "alpha": 0.1, **_TG},
    "learnable alpha from 0.1 + time grid": {
        "fusion_mode": "learnable_alpha",
        "alpha_init": 0.1,
        **_TG,
    },
}
ALL_MODES = {**MODES, **EXTRA_MODES}

# reduced scale: what 12 fits can afford on 2 shared cores; `cpu` follows the cpu preset
SCALES: dict[str, dict] = {
    "reduced": {
        "phantom": {"detector": 32, "volume": 32, "n_views": 60, "n_val": 6, "n_phases": 5},
        "gaussians": {
            "n_init": 1500,
            "max_gaussians": 2500,
            "densify_from": 200,
            "densify_until": 450,
            "densify_every": 100,
        },
        "loss": {"tv_size": 16},
        "train": {
            "iterations": 600,
            "coarse_iterations": 150,
            "eval_every": 300,
            "ckpt_every": 300,
            "log_every": 50,
        },
        "fusion": {"num_anchors": 128, "phys_warmup_steps": 200, "eps_freeze_steps": 200},
    },
    "cpu": {
        "phantom": {"detector": 64, "volume": 64, "n_views": 100, "n_val": 10},
        "gaussians": {},
        "loss": {},
        "train": {},
        "fusion": {},
    },
}


def set_iterations(scale: str, iterations: int) -> None:
    """Change the length of every fit of `scale` in SCALES. A longer run keeps the coarse
    stage, the densification and the anchor warm-up/freeze as they are and trains the fine
    stage longer (the learning rates still decay x0.1 over the whole run); a shorter one
    (smoke runs) shrinks them all in ratio."""
    sc = SCALES[scale]
    # a fused mode, so that base.fusion carries the scale's own anchor settings
    base = make_config(scale, "irregular", MODES["anchor only"], 0)
    sc["train"] = {**sc["train"], "iterations": iterations}
    if iterations >= base.train.iterations:
        return
    frac = iterations / base.train.iterations
    g, f = base.gaussians, base.fusion
    sc["train"]["coarse_iterations"] = int(base.train.coarse_iterations * frac)
    sc["gaussians"] = {
        **sc["gaussians"],
        "densify_from": int(g.densify_from * frac),
        "densify_until": int(g.densify_until * frac),
        "densify_every": max(1, int(g.densify_every * frac)),
    }
    sc["fusion"] = {
        **sc["fusion"],
        "phys_warmup_steps": int(f.phys_warmup_steps * frac),
        "eps_freeze_steps": int(f.eps_freeze_steps * frac),
    }


def _overrides(section: str, values: dict) -> dict:
    return {f"{section}.{k}": v for k, v in values.items()}


def make_config(scale: str, variant: str, mode: dict, seed: int):
    """The full Config of one fit (common.config precedence: defaults < preset < overrides)."""
    from common.config import load_config
    from physx4dct.config import PRESETS_DIR, Config

    sc = SCALES[scale]
    phantom = {
        **sc["phantom"],
        "trace": "irregular",
        "drift": 0.1,
        "seed": seed,
        **VARIANTS[variant],
    }
    over = {
        "seed": seed,
        **_overrides("phantom", phantom),
        **_overrides("gaussians", sc["gaussians"]),
        **_overrides("loss", sc["loss"]),
        **_overrides("train", sc["train"]),
    }
    if mode["fusion_mode"] != "hexplane":
        over.update(_overrides("fusion", sc["fusion"]))
    over.update(_overrides("fusion", {k: v for k, v in mode.items() if "." not in k}))
    over.update({k: v for k, v in mode.items() if "." in k})  # e.g. "train.lr_hexplane"
    preset = "cpu" if (PRESETS_DIR / "cpu.yaml").exists() else None  # its HexPlane size
    return load_config(Config, preset=preset, presets_dir=PRESETS_DIR, overrides=over)


@torch.no_grad()
def evaluate(run_dir: Path, scan) -> dict[str, float]:
    """Mean PSNR3D/SSIM3D over the ground-truth phases of the final model of `run_dir`."""
    from common.rundir import last_checkpoint
    from physx4dct.metrics import volume_metrics
    from physx4dct.train import load_model
    from physx4dct.voxelizer import full_grid, voxelize

    model, cfg = load_model(last_checkpoint(run_dir))
    grid = full_grid(scan.geo)
    rows = []
    for vol_gt, t_s in zip(scan.volumes, scan.volume_time_s):
        t = torch.tensor(t_s / scan.scan_s, dtype=model.tau.dtype)
        means, cov, dens, _ = model.gaussians_at(t if cfg.model == "4d" else None)
        pred = voxelize(means, cov, dens, grid, budget=cfg.train.budget).float()
        rows.append(volume_metrics(pred, torch.as_tensor(vol_gt, dtype=torch.float32)))
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    out["psnr_x2_per_phase"] = [round(r["psnr_x2"], 3) for r in rows]
    return out


def run_one(
    out: Path,
    scale: str,
    variant: str,
    name: str,
    seed: int,
    scan_path: Path,
    scan,
    resume: bool = False,
) -> dict:
    """Fit + evaluate one (variant, mode); returns its row. `resume`: continue the fit from
    its last checkpoint if an earlier (interrupted) run left one."""
    from common.rundir import last_checkpoint
    from physx4dct.train import fit

    cfg = make_config(scale, variant, ALL_MODES[name], seed)
    run_dir = _run_dir(out, seed, variant, name)
    resume = resume and last_checkpoint(run_dir).is_file()
    fit_metrics = fit(cfg, run_dir, data=scan_path, resume=resume)
    wall = fit_metrics["elapsed_s"]  # summed over resumes
    ev = evaluate(run_dir, scan)
    stats = {
        k: v
        for k, v in fit_metrics.items()
        if k in ("alpha", "eps", "beta_mean", "s_E_mean", "val_psnr", "period_s")
    }
    print(
        f"[seed {seed} {variant}] {name}: PSNR3D {ev['psnr_x2']:.2f} dB SSIM3D {ev['ssim_x2']:.4f} "
        f"({wall:.0f} s) {stats}",
        flush=True,
    )
    return {"seed": seed, "variant": variant, "mode": name, "wall_s": wall, **ev, **stats}


def simulate(out: Path, scale: str, variant: str, seed: int):
    """Simulate (or reuse) the scan of a variant; returns (pickle path, Scan)."""
    from physx4dct.data import read_scan, simulate_scan, write_scan

    path = out / f"scan_{variant}_seed{seed}.pickle"
    if not path.exists():
        cfg = make_config(scale, variant, MODES["HexPlane only"], seed)
        write_scan(simulate_scan(cfg.phantom), path)
    return path, read_scan(path)


def _run_dir(out: Path, seed: int, variant: str, name: str) -> Path:
    """Run directory of one (seed, variant, mode) fit; its row.json is the finished row."""
    return out / f"seed{seed}" / variant / _slug(name)


def _slug(name: str) -> str:
    return name.split(" (")[0].replace(" + ", "_").replace(" ", "_")


def verdict(deltas: list[float]) -> str:
    """better / worse only when every seed agrees in sign and |mean| > sd, else tie."""
    from common.results import mean_sd

    mean, sd = mean_sd(deltas)
    same_sign = all(d > 0 for d in deltas) or all(d < 0 for d in deltas)
    if len(deltas) < 2 or not same_sign or abs(mean) <= sd:
        return "tie"
    return "better" if mean > 0 else "worse"


def summary_table(rows: list[dict], modes: list[str], variants: list[str]):
    """One row per (variant, mode): mean ± sd over seeds and the paired Δ to HexPlane only."""
    from common.results import Table, mean_sd

    def cell(values: list[float]) -> dict:
        m, sd = mean_sd(values)
        return {"mean": round(m, 3), "sd": round(sd, 3)}

    out = []
    for variant in variants:
        base = {
            r["seed"]: r for r in rows if r["variant"] == variant and r["mode"] == "HexPlane only"
        }
        for name in modes:
            rs = sorted(
                (r for r in rows if r["variant"] == variant and r["mode"] == name),
                key=lambda r: r["seed"],
            )
            if not rs:
                continue
            deltas = [r["psnr_x2"] - base[r["seed"]]["psnr_x2"] for r in rs if r["seed"] in base]
            is_ref = name == "HexPlane only"
            out.append(
                [
                    variant,
                    name,
                    cell([r["psnr_x2"] for r in rs]),
                    "reference" if is_ref else (cell(deltas) if deltas else None),
                    cell([r["ssim_x2"] for r in rs]),
                    round(sum(r["wall_s"] for r in rs) / len(rs)),
                    "reference" if is_ref else (verdict(deltas) if deltas else "–"),
                ]
            )
    columns = [
        "scan",
        "deformation",
        "PSNR3D (dB)",
        "Δ PSNR3D vs HexPlane (dB)",
        "SSIM3D",
        "wall per fit (s)",
        "verdict",
    ]
    caption = (
        "mean ± sd over seeds; Δ is paired per seed; wall time on a shared, heavily loaded "
        "2-core machine (fits ran side by side)"
    )
    return Table("modes", columns, out, caption=caption)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale",
        choices=sorted(SCALES),
        default="reduced",
        help="phantom and fit size: reduced (32^3, 600 it) or cpu (64^3, 5000 it)",
    )
    parser.add_argument(
        "--variants", default="irregular", help=f"comma-separated scans from: {', '.join(VARIANTS)}"
    )
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help=f"comma-separated names from: {', '.join(ALL_MODES)}",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="total iterations: more than the scale's extends only the fine "
        "stage; fewer shrinks every schedule in ratio",
    )
    parser.add_argument(
        "--seeds",
        default="0,1,2",
        help="comma-separated seeds of the simulated scans and of the fits",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("runs/bench/physx4dct_ablation"),
        help="directory for the scans and run dirs",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip fits that already have a row; continue interrupted ones",
    )
    parser.add_argument("--bench-name", default="ablation", help="results/physx4dct/<name>.json")
    parser.add_argument(
        "--collect",
        action="store_true",
        help="fit nothing: write the results of the rows already finished under --out",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.iterations:
        set_iterations(args.scale, args.iterations)
    seeds = [int(s) for s in args.seeds.split(",")]
    variants, modes = args.variants.split(","), args.modes.split(",")
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"unknown variant {v!r}; choose from {list(VARIANTS)}")
    for m in modes:
        if m not in ALL_MODES:
            raise SystemExit(f"unknown mode {m!r}; choose from {list(ALL_MODES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    from common.io import atomic_write
    from common.results import write_result

    rows = []
    for seed in seeds:
        for variant in variants:
            scan_path, scan = (
                (None, None) if args.collect else simulate(args.out, args.scale, variant, seed)
            )
            for name in modes:
                row_path = _run_dir(args.out, seed, variant, name) / "row.json"
                if args.collect and not row_path.is_file():
                    continue
                if (args.resume or args.collect) and row_path.is_file():
                    rows.append(json.loads(row_path.read_text()))
                    continue
                row = run_one(
                    args.out, args.scale, variant, name, seed, scan_path, scan, resume=args.resume
                )
                with atomic_write(row_path) as fh:
                    json.dump(row, fh, indent=1)
                rows.append(row)
    cfg = make_config(args.scale, variants[0], MODES["anchor only"], seeds[0])
    config = {
        "scale": args.scale,
        "settings": SCALES[args.scale],
        "modes": {m: ALL_MODES[m] for m in modes},
        "variants": {v: VARIANTS[v] for v in variants},
        "resolved": dataclasses.asdict(cfg),
    }
    title = (
        f"Deformation models on the breathing phantom ({cfg.phantom.detector}^2 detector, "
        f"{cfg.phantom.volume}^3, {cfg.phantom.n_views} views, {cfg.train.iterations} "
        f"iterations, {len(seeds)} seeds)"
    )
    path = write_result(
        "physx4dct",
        args.bench_name,
        tables=[summary_table(rows, modes, variants)],
        config=config,
        seeds=sorted({r["seed"] for r in rows}),
        title=title,
        raw={"fits": rows},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
