"""Where the static-vs-4D gap goes with views, dose, Gaussian budget and iterations (issue 27).

One seed per point (a sweep, not a headline): for each point the scan of
`bench/physx4dct_bench.py` (the `cpu` preset's phantom, seed 0) with the point's views and
photons per pixel, FDK of all views, the time-averaged truth, static Gaussians and, where
listed, the 4D models, each fitted with the point's iterations and Gaussian budget. The
static fit's error is split into a reconstruction part, its error against the time-averaged
truth, and the motion blur, the time-averaged truth's error against the phases:
the blur share (dB) is what removing the blur alone would gain, and a 4D model can gain
>= 3 dB over static only where the blur is at least half of the static fit's error
(blur share >= 3 dB). Writes results/physx4dct/sweep.json.

    OMP_NUM_THREADS=1 python bench/physx4dct_sweep.py [--points p127 p900 ...] [--reuse]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import physx4dct_bench as bench  # bench/ is on sys.path when this file is run

OUT_DEFAULT = Path("runs/bench/physx4dct_sweep")
_SCAN_KEYS = ("views", "photons", "amplitude", "detector")  # points with these equal share a scan
_ALL = ("static3d", "hexplane4d", "surrogate", "surrogate_centred")
_STATIC = ("static3d",)
_G8K = dict(views=900, photons=1e4, it=800, g=(4000, 8000))  # the 4-8k Gaussian budget
_FOUR_D = ("static3d", "surrogate_centred", "hexplane4d")
_CENTRED = ("static3d", "surrogate_centred")
_TUMOUR = ("static3d", "hexplane4d", "surrogate", "surrogate_centred", "surrogate_residual")
POINTS: dict[str, dict] = {
    # name: views over 60 s, photons per pixel, iterations, (initial, maximum) Gaussians, methods
    # (optional: detector pixels per side, diaphragm amplitude in mm, `sets`: more config values
    # of every fit, e.g. the coarse stage's length, which the static fit does not use)
    "v127": dict(views=127, photons=1e4, it=800, g=(1000, 2000), methods=_STATIC),
    "v900": dict(views=900, photons=1e4, it=800, g=(1000, 2000), methods=_ALL),
    "v900_dose1e6": dict(views=900, photons=1e6, it=800, g=(1000, 2000), methods=_STATIC),
    "v900_g8k": dict(_G8K, methods=_FOUR_D),
    "v900_g16k": dict(_G8K, g=(8000, 16000), methods=_STATIC),
    "v900_g8k_it2400": dict(_G8K, it=2400, methods=_STATIC),
    "v900_g8k_det64": dict(_G8K, detector=64, methods=_FOUR_D),
    "v900_g8k_det128": dict(_G8K, detector=128, methods=(*_FOUR_D, "surrogate_residual")),
    # no diaphragm (and tumour) motion: the static fit's error without the breathing
    "v900_g8k_still": dict(_G8K, amplitude=0.0, methods=_STATIC),
    "v900_g8k_det128_still": dict(_G8K, detector=128, amplitude=0.0, methods=_STATIC),
    # levers on the 4D model's own reconstruction error (`sets`: config of every fit)
    "v900_g8k_det64_it1600": dict(_G8K, detector=64, it=1600, methods=_CENTRED),
    "v900_g8k_det64_coarse320": dict(
        _G8K, detector=64, sets={"train.coarse_iterations": 320}, methods=_CENTRED
    ),
    "v900_g16k_det64": dict(_G8K, g=(8000, 16000), detector=64, methods=_CENTRED),
    # the total-variation weight of every fit 4x and 1/5 of the default 0.05
    "v900_g8k_det64_tv02": dict(_G8K, detector=64, sets={"loss.tv": 0.2}, methods=_STATIC),
    "v900_g8k_det64_tv001": dict(_G8K, detector=64, sets={"loss.tv": 0.01}, methods=_CENTRED),
    # the centred surrogate plus a HexPlane residual at absolute time
    "v900_g8k_det64_residual": dict(_G8K, detector=64, methods=("static3d", "surrogate_residual")),
}


def _args(point: dict, out: Path, reuse: bool) -> argparse.Namespace:
    """The namespace `bench.run_one` reads, for one sweep point."""
    n_init, n_max = point["g"]
    return argparse.Namespace(
        preset="cpu",
        iterations=point["it"],
        views=point["views"],
        photons=point["photons"],
        amplitude=point.get("amplitude"),
        detector=point.get("detector"),
        oversample=None,
        trace=None,
        reuse=reuse,
        rescore=False,
        out=out,
        sets={
            "gaussians.n_init": n_init,
            "gaussians.max_gaussians": n_max,
            **point.get("sets", {}),
        },
    )


def _psnr(pred: np.ndarray, gt: np.ndarray) -> float:
    """X²-Gaussian PSNR3D (peak 1) averaged over the volumes, as `score_volumes` reports it."""
    from physx4dct.evaluate import score_volumes

    return score_volumes(pred, gt)["mean"]["psnr_x2"]


def _fit_key(method: str, args: argparse.Namespace, seed: int) -> dict:
    """The resolved config of one fit, without the scan's path (where the run lives) and, for
    a static fit, without the coarse stage's length (only a 4D fit has a coarse stage).
    """
    from common.config import to_dict

    cfg = to_dict(bench._fit_cfg(method, args, seed, Path("scan.pickle")))
    if cfg["model"] == "static":
        cfg["train"].pop("coarse_iterations")
    return {k: v for k, v in cfg.items() if k != "data"}


def _link_from_other_point(
    name: str, point: dict, seed: int, out: Path, files: tuple[str, ...], same=None
) -> None:
    """Link `files` (names in a point's seed directory) from the first other point on the same
    scan (views, photons, amplitude, detector) that has ``files[0]`` and for which
    ``same(other_name, other_point)`` holds (default: always); nothing if ``files[0]`` is here.
    """
    d = out / name / f"seed{seed}"
    if (d / files[0]).exists():
        return
    for other, p in POINTS.items():
        src = out / other / f"seed{seed}"
        same_scan = all(p.get(k) == point.get(k) for k in _SCAN_KEYS)
        if other == name or not same_scan or not (src / files[0]).is_file():
            continue
        if same is None or same(other, p):
            d.mkdir(parents=True, exist_ok=True)
            for f in files:
                (d / f).symlink_to((src / f).resolve())
            return


def _link_same_fits(name: str, point: dict, args: argparse.Namespace, seed: int, out: Path):
    """With --reuse: a fit of this point that another point already ran on the same scan with
    the same resolved config (e.g. the static fit of a point that changes a 4D-only setting) is
    linked, not run again.
    """
    (args.out / f"seed{seed}").mkdir(parents=True, exist_ok=True)
    if not args.reuse:
        return
    for m in point["methods"]:

        def same_fit(other: str, p: dict, m: str = m) -> bool:
            return _fit_key(m, _args(p, out / other, True), seed) == _fit_key(m, args, seed)

        _link_from_other_point(name, point, seed, out, (f"{m}.json", f"vol_{m}.npy", m), same_fit)


def _fit_split(d: Path, method: str, truth: np.ndarray) -> dict:
    """A fit's error split into two orthogonal parts (their MSEs add up): its time mean
    against the time-averaged truth (the anatomy) and, with the truth's time mean put in its
    place, its variation in time against the truth's (the motion; a static volume scores
    there what the time-averaged truth scores).
    """
    vols = np.load(d / f"vol_{method}.npy")  # (phases, ...), a static fit's repeated
    mean_v, mean_t = vols.mean(0, keepdims=True), truth.mean(0, keepdims=True)
    return {
        "psnr": _psnr(vols, truth),
        "anatomy_psnr": _psnr(mean_v, mean_t),
        "motion_psnr": _psnr(vols - mean_v + mean_t, truth),
    }


def run_point(name: str, point: dict, seed: int, out: Path, reuse: bool) -> dict:
    """Scores of every method of one point, and the static fit's error split."""
    from physx4dct.data import read_scan

    args = _args(point, out / name, reuse)
    _link_from_other_point(name, point, seed, out, ("scan.pickle",))  # the same scan: reuse it
    _link_same_fits(name, point, args, seed, out)
    res = {m: bench.run_one(m, args, seed, args.out) for m in ("fdk_all", "static_oracle")}
    res |= {m: bench.run_one(m, args, seed, args.out) for m in point["methods"]}
    d = args.out / f"seed{seed}"
    truth = read_scan(d / "scan.pickle").volumes
    mean_truth = truth.mean(0, keepdims=True)
    static = np.load(d / "vol_static3d.npy")
    mse_s = 10 ** (-res["static3d"]["mean"]["psnr_x2"] / 10)
    mse_o = 10 ** (-res["static_oracle"]["mean"]["psnr_x2"] / 10)
    split = {
        "recon_psnr": _psnr(static[:1], mean_truth),  # static fit vs the time-averaged truth
        "fdk_recon_psnr": _psnr(np.load(d / "vol_fdk_all.npy")[:1], mean_truth),
        "blur_share_db": float(10 * np.log10(mse_s / max(mse_s - mse_o, 1e-30))),
    }
    split["fits"] = {m: _fit_split(d, m, truth) for m in point["methods"]}
    ph = bench._phantom_cfg(args, seed)
    return {
        "point": point,
        "runs": res,
        "split": split,
        "amplitude_mm": ph.amplitude_mm,
        "detector": ph.detector,
    }


def _row(name: str, r: dict) -> list:
    p, runs, split = r["point"], r["runs"], r["split"]
    static = runs["static3d"]["mean"]["psnr_x2"]

    def gain(m: str) -> str:
        return f"{runs[m]['mean']['psnr_x2'] - static:+.2f}" if m in runs else "-"

    def tumour(m: str) -> str:
        return f"{runs[m]['motion']['tumour_rms_mm']:.1f}" if m in runs else "-"

    return [
        name,
        p["views"],
        r["detector"],
        f"{p['photons']:.0e}",
        r["amplitude_mm"],
        p["it"],
        ", ".join(f"{k}={v}" for k, v in p.get("sets", {}).items()) or "-",
        f"{p['g'][0]}-{p['g'][1]} ({runs['static3d'].get('n_gaussians', '-')})",
        round(runs["fdk_all"]["mean"]["psnr_x2"], 2),
        round(split["fdk_recon_psnr"], 2),
        round(static, 2),
        round(split["recon_psnr"], 2),
        round(runs["static_oracle"]["mean"]["psnr_x2"], 2),
        round(split["blur_share_db"], 2),
        gain("hexplane4d"),
        gain("surrogate"),
        gain("surrogate_centred"),
        gain("surrogate_residual"),
        " / ".join(tumour(m) for m in _TUMOUR),
        round(runs["static3d"]["wall_s"]),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", nargs="+", default=list(POINTS), choices=list(POINTS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reuse", action="store_true", help="Keep finished runs (JSON cache).")
    ap.add_argument("--out", type=Path, default=OUT_DEFAULT)
    args = ap.parse_args()
    from common.results import Table, write_result

    results = {}
    for name in args.points:
        print(f"point {name}", flush=True)
        results[name] = run_point(name, POINTS[name], args.seed, args.out, args.reuse)
    table = Table(
        "sweep",
        [
            "point",
            "views",
            "detector",
            "photons / pixel",
            "diaphragm excursion (mm)",
            "iterations",
            "other settings",
            "Gaussians init-max (final)",
            "FDK-all PSNR3D (dB)",
            "FDK-all vs time-avg truth (dB)",
            "static PSNR3D (dB)",
            "static vs time-avg truth (dB)",
            "time-avg truth PSNR3D (dB)",
            "blur share (dB)",
            "ΔPSNR3D HexPlane - static (dB)",
            "ΔPSNR3D surrogate - static (dB)",
            "ΔPSNR3D centred surrogate - static (dB)",
            "ΔPSNR3D centred surrogate + HexPlane residual - static (dB)",
            "tumour RMS static / HexPlane / surrogate / centred / centred + residual (mm)",
            "static wall (s)",
        ],
        [_row(n, r) for n, r in results.items()],
        caption=(
            f"Sweep of the scan and fit budget, seed {args.seed} only (not a headline): the 'cpu' "
            "preset's phantom (irregular breathing, 32^3 grid of 10 mm voxels, projections from a"
            " 2x finer grid) with the views over 60 s, detector pixels per side, photons per "
            "pixel and diaphragm excursion of each row (0: no diaphragm or tumour motion, the "
            "chest wall's 4 % anterior-posterior expansion remains); X²-Gaussian PSNR3D over the "
            "10 phases; other settings: config values of every fit beyond the preset and the row's "
            "budget (the coarse stage, iterations // 5 by default, is a 4D fit's only). 'vs "
            "time-avg truth': a static volume against the time-averaged truth (its"
            " error apart from the motion blur). Blur share: the gain over the static fit from "
            "removing the motion blur alone; 3 dB over static needs it >= 3 dB."
        ),
    )
    split = Table(
        "split",
        [
            "point",
            "fit",
            "PSNR3D (dB)",
            "anatomy: time mean vs time-avg truth (dB)",
            "motion: own variation on the true time mean (dB)",
        ],
        [
            [n, m, *(round(f[k], 2) for k in ("psnr", "anatomy_psnr", "motion_psnr"))]
            for n, r in results.items()
            for m, f in r["split"]["fits"].items()
        ],
        caption=(
            f"Each Gaussian fit's error (seed {args.seed}) split into two parts whose mean "
            "squared errors add up: its time mean against the time-averaged truth (the anatomy) "
            "and its variation in time, put on the true time mean, against the phases (the "
            "motion; a static fit scores there what the time-averaged truth scores). A 4D model "
            "gains over static Gaussians in both parts: in the motion part by the motion it "
            "learns, in the anatomy part because the static fit also absorbs "
            "motion-inconsistent views."
        ),
    )
    path = write_result(
        "physx4dct",
        "sweep",
        tables=[table, split],
        config={"points": {n: POINTS[n] for n in args.points}, "preset": "cpu"},
        seeds=[args.seed],
        title="physx4dct: the static-vs-4D gap against views, dose, Gaussians, iterations",
        raw=results,
    )
    print(path)
    for row in table.rows:
        print(" | ".join(str(c) for c in row))


if __name__ == "__main__":
    main()
