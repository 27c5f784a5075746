"""Score a benchmark's Gaussian fits at every breathing cycle of the scan, not only one.

`physx4dct_bench.py` scores 10 phases of the scan's middle breathing cycle (the field's
convention: one cycle of ground truth). With an irregular trace that cycle may be a shallow or
a deep breath. This script takes the cached fits of a finished benchmark (its `--out` folder
and its results JSON, which holds the phantom config), draws the ground truth at the 10 phases
of every whole cycle of each seed's scan (`physx4dct.data.truth_volumes`) and scores every
Gaussian fit there with the X²-Gaussian PSNR3D, so the 4D-vs-static gain is measured over the
whole scan. No fit is run again. Writes results/physx4dct/<--name>.json.

    OMP_NUM_THREADS=1 python bench/physx4dct_cycles.py \
        --bench results/physx4dct/bench_det128.json --out runs/bench/physx4dct_det128 \
        --name cycles_det128
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

FITS = (
    "static3d",
    "hexplane4d",
    "surrogate",
    "surrogate_centred",
    "surrogate_residual",
    "surrogate_refined",
)
"""Gaussian fits scored, when the benchmark ran them (static3d is the reference)."""


def score_cycles(run: Path, scan, times: np.ndarray, truth: list[np.ndarray]) -> list[float]:
    """Mean PSNR3D (X²) over the phases of each cycle for the fit in `run` of `scan`."""
    import torch

    from physx4dct.evaluate import model_volume
    from physx4dct.metrics import psnr3d_x2
    from physx4dct.train import load_model

    model, _ = load_model(run / "checkpoints" / "last.pt", "cpu")
    out = []
    for row, gts in zip(times, truth):
        ps = [
            psnr3d_x2(model_volume(model, scan, float(t)).double(), torch.from_numpy(g).double())
            for t, g in zip(row, gts)
        ]
        out.append(float(np.mean(ps)))
    return out


def _depth_row(seed: int, scan, times: np.ndarray, raw: dict) -> list:
    """How deep the scored (middle) cycle breathes among all cycles of the scan: diaphragm
    excursion (mm) over each cycle's phases, from the trace stored in the scan."""
    b = scan.breathing
    dia = np.interp(times, np.asarray(b["time"]), np.asarray(b["diaphragm_mm"]))
    exc = np.ptp(dia, axis=1)
    mid = int(np.argmin(np.abs(times[:, 0] - scan.volume_time_s[0])))
    raw.update(diaphragm_excursion_mm=exc.tolist(), middle_cycle=mid)
    rank = int(np.sum(exc < exc[mid])) + 1
    return [
        seed,
        len(times),
        f"{exc[mid]:.1f}",
        f"{rank} of {len(exc)}",
        f"{np.median(exc):.1f}",
        f"{exc.min():.1f}-{exc.max():.1f}",
    ]


def _paired(a: dict[int, float], b: dict[int, float]) -> tuple[list[float], str]:
    """Per-seed differences a - b and 'mean ± sd' (sd over seeds)."""
    from common.results import mean_sd

    d = [a[s] - b[s] for s in sorted(a) if s in b]
    if not d:
        return [], "-"
    m, s = mean_sd(d)
    return d, f"{m:+.2f} ± {s:.2f}" + ("" if len(d) > 2 else f" (n={len(d)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", type=Path, required=True, help="Results JSON of the benchmark.")
    ap.add_argument("--out", type=Path, required=True, help="The benchmark's --out folder.")
    ap.add_argument("--name", required=True, help="Result name: results/physx4dct/NAME.json.")
    args = ap.parse_args()
    import torch

    from common.config import from_dict
    from common.results import Table, mean_sd, write_result
    from physx4dct.config import PhantomConfig
    from physx4dct.data import cycle_phase_times, read_scan, truth_volumes

    torch.set_num_threads(1)
    bench = json.loads(args.bench.read_text())
    base = from_dict(PhantomConfig, bench["config"]["phantom"], source=str(args.bench))
    seeds = list(bench["seeds"])
    mid: dict[str, dict[int, float]] = {}
    every: dict[str, dict[int, float]] = {}
    raw: dict[str, dict] = {}
    depth_rows: list[list] = []
    for seed in seeds:
        pcfg = dataclasses.replace(base, seed=seed)
        times = cycle_phase_times(pcfg)
        truth = [truth_volumes(pcfg, row) for row in times]
        raw[str(seed)] = {"cycle_times_s": times.tolist()}
        scan = read_scan(args.out / f"seed{seed}" / "scan.pickle")  # read once per seed
        depth_rows.append(_depth_row(seed, scan, times, raw[str(seed)]))
        for name in FITS:
            rows = [r for r in bench["raw"]["runs"].get(name, []) if r["seed"] == seed]
            path = args.out / f"seed{seed}" / name
            if not rows or not (path / "checkpoints" / "last.pt").is_file():
                continue
            per = score_cycles(path, scan, times, truth)
            print(f"seed {seed} {name}: {len(per)} cycles, {np.mean(per):.2f} dB", flush=True)
            raw[str(seed)][name] = per
            every.setdefault(name, {})[seed] = float(np.mean(per))
            mid.setdefault(name, {})[seed] = rows[0]["mean"]["psnr_x2"]
    table_rows = []
    for name in FITS:
        if name not in every:
            continue
        m_all, s_all = mean_sd(list(every[name].values()))
        m_mid, s_mid = mean_sd(list(mid[name].values()))
        if name == "static3d":
            gain_mid = gain_all = per_seed = "-"
        else:
            _, gain_mid = _paired(mid[name], mid.get("static3d", {}))
            d, gain_all = _paired(every[name], every.get("static3d", {}))
            per_seed = " / ".join(f"{x:+.2f}" for x in d)
        table_rows.append(
            [
                name,
                f"{m_mid:.2f} ± {s_mid:.2f}",
                f"{m_all:.2f} ± {s_all:.2f}",
                gain_mid,
                gain_all,
                per_seed,
            ]
        )
    n_cycles = ", ".join(f"seed {s}: {len(raw[str(s)]['cycle_times_s'])}" for s in seeds)
    table = Table(
        "cycles",
        [
            "fit",
            "PSNR3D X², middle cycle (dB)",
            "PSNR3D X², every cycle (dB)",
            "ΔPSNR3D vs static, middle cycle (dB)",
            "ΔPSNR3D vs static, every cycle (dB)",
            "Δ every cycle per seed (dB)",
        ],
        table_rows,
        caption=f"The fits of `{args.bench.name}` (no new fit) scored at 10 phases of every "
        f"whole breathing cycle of each seed's scan (cycles per seed: {n_cycles}) instead of "
        "the middle cycle only; X²-Gaussian PSNR3D, mean ± sd over seeds, Δ paired per seed.",
    )
    depth = Table(
        "depth",
        [
            "seed",
            "cycles",
            "middle cycle: diaphragm excursion (mm)",
            "its rank (1 = shallowest)",
            "median over cycles (mm)",
            "range over cycles (mm)",
        ],
        depth_rows,
        caption="How deep each seed's scored (middle) breathing cycle is among the whole "
        "cycles of its scan: peak-to-peak diaphragm position over the 10 phases of a cycle.",
    )
    path = write_result(
        "physx4dct",
        args.name,
        tables=[table, depth],
        config={"bench": str(args.bench), "out": str(args.out), "bench_config": bench["config"]},
        seeds=seeds,
        title=f"{args.bench.stem} scored at every breathing cycle",
        raw=raw,
    )
    print(path)


if __name__ == "__main__":
    main()
