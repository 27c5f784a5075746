"""Side-by-side benchmark of physx4dct on the `cpu` phantom (issue 5).

FDK (phase-binned and all projections), a static 3D Gaussian fit (R²-Gaussian style) and the
4D HexPlane model (X²-Gaussian style, learned period initialised 10 % off): PSNR3D / SSIM3D
per phase and mean (X²-Gaussian and STNF4D conventions), wall time, peak memory (RSS of a
separate process per method). Writes runs/bench/physx4dct/{results.json, table.md, *.png}.

    OMP_NUM_THREADS=1 python bench/physx4dct_bench.py [--preset cpu] [--iterations 10000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

OUT_DEFAULT = Path("runs/bench/physx4dct")


def _method(name: str, preset: str, iterations: int | None, scan_path: Path, out: Path) -> dict:
    """Run one method in this process; returns scores, time, volumes path."""
    import torch

    from common.config import load_config
    from physx4dct.config import PRESETS_DIR, Config
    from physx4dct.data import read_scan
    from physx4dct.evaluate import fdk_volumes, model_volumes, score_volumes
    from physx4dct.train import fit, load_model

    torch.set_num_threads(1)
    scan = read_scan(scan_path)
    t0 = time.time()
    extra = {}
    if name.startswith("fdk_"):
        vols = fdk_volumes(scan, name[4:])
    else:
        model_kind = "static" if name == "static3d" else "4d"
        overrides = {"model": model_kind}
        if iterations:  # same budget for both Gaussian models: a fair comparison
            overrides["train.iterations"] = iterations
            overrides["train.coarse_iterations"] = iterations // 5
            overrides["gaussians.densify_until"] = iterations * 3 // 5
        cfg = load_config(Config, preset=preset, presets_dir=PRESETS_DIR, overrides=overrides)
        run = out / f"run_{name}"
        metrics = fit(cfg, run, scan_path)
        model, _, _ = load_model(run / "checkpoints" / "last.pt", scan)
        vols = model_volumes(model, scan)
        extra = {
            "iterations": cfg.train.iterations,
            "n_gaussians": model.cloud.n,
            "period_s": metrics.get("period_s"),
            "val_psnr": metrics.get("val_psnr"),
        }
    wall = time.time() - t0
    np.save(out / f"vol_{name}.npy", vols)
    scores = score_volumes(vols, scan.volumes)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"method": name, "wall_s": wall, "peak_rss_mb": peak_mb, **scores, **extra}


def _table(results: list[dict], meta: dict) -> str:
    lines = [
        f"Phantom: {meta['desc']}",
        "",
        "| method | PSNR3D X² (dB) | SSIM3D X² | PSNR3D STNF (dB) | SSIM3D STNF | "
        "wall (s) | peak RSS (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        m = r["mean"]
        lines.append(
            f"| {r['method']} | {m['psnr_x2']:.2f} | {m['ssim_x2']:.3f} | "
            f"{m['psnr_stnf']:.2f} | {m['ssim_stnf']:.3f} | {r['wall_s']:.0f} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    lines += [
        "",
        "PSNR3D (X² convention) per phase:",
        "",
        "| method | " + " | ".join(f"p{k}" for k in range(len(results[0]["per_phase"]))) + " |",
        "|---|" + "---|" * len(results[0]["per_phase"]),
    ]
    for r in results:
        lines.append(
            f"| {r['method']} | " + " | ".join(f"{p['psnr_x2']:.2f}" for p in r["per_phase"]) + " |"
        )
    for r in results:
        if r.get("period_s") and r["method"] != "static3d":
            lines.append(
                f"\n{r['method']}: learned period {r['period_s']:.3f} s "
                f"(true {meta['true_period_s']:.3f} s, initial {meta['period_init_s']} s)"
            )
    return "\n".join(lines) + "\n"


def _figure(scan_path: Path, names: list[str], out: Path) -> None:
    from physx4dct.data import read_scan
    from physx4dct.plots import plot_phase_slices

    scan = read_scan(scan_path)
    recons = {n: np.load(out / f"vol_{n}.npy") for n in names}
    plot_phase_slices(scan.volumes, recons, out / "slices.png", (0, scan.volumes.shape[0] // 2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--preset", default="cpu", help="physx4dct preset of the phantom and both Gaussian models."
    )
    ap.add_argument(
        "--iterations",
        type=int,
        default=10000,
        help="Iterations of both Gaussian models (default 10000, twice the cpu "
        "preset: the static fit has stopped improving by 5000; 0 = the preset's).",
    )
    ap.add_argument("--only", default=None, help=argparse.SUPPRESS)
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="Keep the phantom and the results of methods already run.",
    )
    ap.add_argument(
        "--methods",
        default="fdk_binned,fdk_all,static3d,hexplane4d",
        help="Comma-separated subset of the methods, in table order.",
    )
    ap.add_argument(
        "--amplitude-mm",
        type=float,
        default=15.0,
        help="Diaphragm excursion of the phantom (the issue's range is 10-20 mm).",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=OUT_DEFAULT,
        help="Output directory (default: runs/bench/physx4dct).",
    )
    args = ap.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    scan_path = out / f"phantom_{args.preset}_{args.amplitude_mm:g}mm.pickle"
    if args.only:
        res = _method(args.only, args.preset, args.iterations, scan_path, out)
        res["amplitude_mm"] = args.amplitude_mm
        (out / f"result_{args.only}.json").write_text(json.dumps(res, indent=2))
        return
    cmd = [
        sys.executable,
        "-m",
        "physx4dct",
        "--threads",
        "1",
        "phantom",
        "--preset",
        args.preset,
        "--out",
        str(scan_path),
        "--set",
        f"phantom.amplitude_mm={args.amplitude_mm}",
    ]
    if not (args.reuse and scan_path.is_file()):
        subprocess.run(cmd, check=True)
    results = []
    for name in args.methods.split(","):
        if args.reuse and (out / f"result_{name}.json").is_file():
            results.append(json.loads((out / f"result_{name}.json").read_text()))
            continue
        cmd = [
            sys.executable,
            __file__,
            "--preset",
            args.preset,
            "--only",
            name,
            "--amplitude-mm",
            str(args.amplitude_mm),
            "--out",
            str(out),
        ]
        if args.iterations:
            cmd += ["--iterations", str(args.iterations)]
        print("running", name, flush=True)
        subprocess.run(cmd, check=True)
        results.append(json.loads((out / f"result_{name}.json").read_text()))
    from physx4dct.data import read_scan

    scan = read_scan(scan_path)
    from common.config import load_config
    from physx4dct.config import PRESETS_DIR, Config

    cfg = load_config(Config, preset=args.preset, presets_dir=PRESETS_DIR)
    p = cfg.phantom
    meta = {
        "desc": f"preset {args.preset}: {len(scan.train.angles)} views over "
        f"{p.scan_s:.0f} s, {p.detector}^2 detector, {p.volume}^3 volume, "
        f"{p.trace} trace (period {p.period_s} s, diaphragm {args.amplitude_mm:g} mm)",
        "true_period_s": scan.meta.get("mean_period_s"),
        "period_init_s": cfg.train.period_init_s,
    }
    (out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    (out / "table.md").write_text(_table(results, meta))
    _figure(scan_path, [r["method"] for r in results], out)
    print((out / "table.md").read_text())


if __name__ == "__main__":
    main()
