"""How fast each deformation field learns a breathing motion, by direct supervision (issue 6).

The fusion ablation asks a rendering loss to discover the motion; this bench removes the
rendering and asks only: given the true displacement of N points at one random time per
step (as training sees one view per step), how close does Adam bring each field in S steps?
Side by side on the same points, trace and steps: the HexPlane field (trainer lrs), the anchor
transformer with Fourier time bands and with the learnt time grid (anchor network at the
seed's 1.6e-4 and at 10x), each on two targets built from the phantom's irregular breathing
trace d(t) (period jitter 0.15, amplitude jitter 0.2, drift 0.1, 60 s, 4 s period):

- `dome`: a diaphragm-like field, a band of points descending by up to 0.08 (15 mm at the
  cpu phantom's scale) times d(t) with a sharp edge (the lung/abdomen slide),
- `smooth`: a smooth whole-body field (SI descent growing linearly towards the bottom,
  AP expansion) of the same peak size.

Score: relative error sum |dx - target|^2 / sum |target|^2 over 41 times in the middle of the
scan (1 = learnt nothing), mean ± sd over seeds (each seed draws its own points, trace, time
samples and initialisation). Writes results/physx4dct/motion_fit.json (common.results).

    OMP_NUM_THREADS=1 .venv/bin/python bench/physx4dct_motion_fit.py   # 3 seeds, ~6 CPU-min
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def _trace(seed: int):
    """d(t) of the phantom's irregular trace as a function of normalised time (tensor)."""
    import numpy as np

    from physx4dct.phantom import make_trace

    tr = make_trace(60.0, 4.0, "irregular", drift=0.1, seed=seed)

    def d(t: torch.Tensor) -> torch.Tensor:
        _, val = tr.at(np.asarray(float(t) * 60.0))
        return torch.tensor(float(val))

    return d


def _targets(xyz: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-point displacement at d = 1 (N,3) of the two motion patterns."""
    x, y, z = xyz.unbind(1)
    dome = torch.zeros_like(xyz)
    band = (x.abs() < 0.5) & (z < 0.3)  # sharp edge: the slide
    dome[band, 2] = -(0.02 + 0.06 * (0.3 - z[band]) / 1.1)
    smooth = torch.stack([0.0 * x, 0.02 * y, -0.04 * (1.0 - z)], dim=1)
    return {"dome": dome, "smooth": smooth}


def _fields(xyz: torch.Tensor, anchors: int, lr: float, anchor_lr: float, seed: int):
    """(name, module, optimizer groups) of every competitor, freshly initialised."""
    from physx4dct.config import FusionConfig, HexPlaneConfig
    from physx4dct.deformation import HexPlaneField
    from physx4dct.fusion.anchors import AnchorField

    torch.manual_seed(seed)
    hp = HexPlaneField(HexPlaneConfig())
    yield "HexPlane", hp, hp.param_groups(lr)
    for enc in ("fourier", "grid"):
        for scale in (1.0, 10.0):
            torch.manual_seed(seed)
            cfg = FusionConfig(
                fusion_mode="anchor",
                num_anchors=anchors,
                anchor_time_encoding=enc,
                phys_warmup_steps=10**9,
                anchor_lr_scale=anchor_lr * scale / lr,
            )  # time grid at lr
            fld = AnchorField(cfg, xyz)
            yield f"anchors, {enc} time, lr {anchor_lr * scale:.2g}", fld, fld.param_groups(lr)


def _score(field, xyz, pattern, d, steps: int) -> float:
    with torch.no_grad():
        num = den = 0.0
        for tt in torch.linspace(0.3, 0.7, 41):
            want = pattern * d(tt)
            num += float((field(xyz, tt, steps).dx - want).square().sum())
            den += float(want.square().sum())
    return num / den


def fit(
    field, groups, xyz, pattern, d, steps: int, checkpoints: list[int], seed: int
) -> dict[int, float]:
    """Adam on the L1 displacement error at one random time per step; scores at checkpoints."""
    opt = torch.optim.Adam(groups)
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for step in range(1, steps + 1):
        t = torch.rand((), generator=gen)
        loss = (field(xyz, t, step).dx - pattern * d(t)).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step in checkpoints:
            out[step] = _score(field, xyz, pattern, d, step)
    return out


def run_seed(args, checkpoints: list[int], seed: int) -> list[dict]:
    """Every (target, field) fit of one seed."""
    gen = torch.Generator().manual_seed(seed)
    xyz = torch.rand(args.points, 3, generator=gen) * 1.6 - 0.8
    d = _trace(seed)
    rows = []
    for target, pattern in _targets(xyz).items():
        for name, field, groups in _fields(xyz, args.anchors, args.lr, args.anchor_lr, seed):
            t0 = time.time()
            scores = fit(field, groups, xyz, pattern, d, checkpoints[-1], checkpoints, seed)
            row = {"seed": seed, "target": target, "field": name, "wall_s": time.time() - t0}
            row |= {f"rel_err_{s}": v for s, v in scores.items()}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def summary_table(rows: list[dict], checkpoints: list[int]):
    """Mean ± sd over seeds of the relative error at each checkpoint, per (target, field)."""
    from common.results import Table, mean_sd

    def cell(values):
        m, sd = mean_sd(values)
        return {"mean": round(m, 4), "sd": round(sd, 4)}

    out = []
    keys = list(dict.fromkeys((r["target"], r["field"]) for r in rows))
    for target, name in keys:
        rs = [r for r in rows if r["target"] == target and r["field"] == name]
        base = {r["seed"]: r for r in rows if r["target"] == target and r["field"] == "HexPlane"}
        last = f"rel_err_{checkpoints[-1]}"
        ratio = [r[last] / base[r["seed"]][last] for r in rs]
        out.append(
            [target, name]
            + [cell([r[f"rel_err_{s}"] for r in rs]) for s in checkpoints]
            + [cell(ratio), round(sum(r["wall_s"] for r in rs) / len(rs), 1)]
        )
    columns = ["target", "field"] + [f"rel. error @{s} steps" for s in checkpoints]
    columns += [f"error / HexPlane's @{checkpoints[-1]}", "wall per fit (s)"]
    return Table("fields", columns, out, caption="relative error: 1 = learnt nothing, 0 = exact")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2000, help="points (Gaussian centres)")
    parser.add_argument("--anchors", type=int, default=128, help="anchors of the anchor field")
    parser.add_argument(
        "--steps", default="150,600", help="comma-separated step counts to score at (last = run)"
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=1.6e-2,
        help="HexPlane grid lr (the cpu preset's; its MLP gets lr/10) and the time-grid lr",
    )
    parser.add_argument(
        "--anchor-lr", type=float, default=1.6e-4, help="anchor network lr (the seed's); also 10x"
    )
    parser.add_argument("--seeds", default="0,1,2", help="points, trace, time draws, init")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--bench-name", default="motion_fit", help="results/physx4dct/<name>.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    checkpoints = sorted(int(s) for s in args.steps.split(","))
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = [row for seed in seeds for row in run_seed(args, checkpoints, seed)]
    from common.results import write_result

    path = write_result(
        "physx4dct",
        args.bench_name,
        tables=[summary_table(rows, checkpoints)],
        config=vars(args),
        seeds=seeds,
        title="Deformation fields fitted directly to a breathing motion (no rendering)",
        raw={"fits": rows},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
