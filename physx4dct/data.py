"""Scans: the `Scan` held in memory, reading/writing it, and the simulated breathing thorax.

A `Scan` holds projections as line integrals with lengths in scene units (see `geometry`),
times in seconds and breathing phases as fractions of a cycle. On disk it is a pickle in one of
the field's layouts (X²-Gaussian, NAF, STNF4D, or physx4dct's native one; see `layouts`),
read with a restricted unpickler (`safe_pickle`). Projections are -log of air-normalised
intensities, i.e. line integrals of attenuation.
"""

from __future__ import annotations

import dataclasses
import math
import pickle
from pathlib import Path

import numpy as np
import torch

from common.io import atomic_path
from physx4dct.config import PhantomConfig
from physx4dct.geometry import ConeGeometry, voxel_centres
from physx4dct.phantom import (
    BreathingTrace,
    diaphragm_apex_mm,
    make_trace,
    thorax_volume,
    tumour_centre_mm,
)
from physx4dct.projector import raymarch
from physx4dct.scan import Scan, Views, phase_bins

__all__ = [
    "Views",
    "Scan",
    "read_scan",
    "write_scan",
    "simulate_scan",
    "phase_bins",
    "truth_volumes",
    "cycle_phase_times",
    "fine_geometry",
    "block_mean",
    "truth_oversample",
]


def write_scan(scan: Scan, path: str | Path, layout: str = "x2") -> None:
    """Write `scan` as a pickle in `layout` (see `layouts`), atomically.

    The default `x2` layout is read by X²-Gaussian's `readNAFInfo` as it is; `naf` (static
    scans) by NAF's `TIGREDataset`; `stnf` by STNF4D; `native` is physx4dct's old layout.
    """
    from physx4dct.layouts import scan_to_dict

    data = scan_to_dict(scan, layout)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        pickle.dump(data, handle, protocol=4)


def read_scan(path: str | Path, layout: str = "auto") -> Scan:
    """Read a scan pickle (X²-Gaussian, NAF, STNF4D or native layout; see `layouts`).

    The file is unpickled with `safe_pickle` (only NumPy data); any problem is a one-line
    `UserError` naming the file.
    """
    from physx4dct.layouts import scan_from_dict
    from physx4dct.safe_pickle import load_pickle

    return scan_from_dict(load_pickle(path), layout, str(path))


def geometry_of(cfg: PhantomConfig) -> ConeGeometry:
    """Scanner of the phantom: detector covering the magnified volume with a 10 % margin."""
    mag = cfg.DSD / cfg.DSO
    pix = cfg.fov_mm * math.sqrt(2) * mag / cfg.detector * 0.8
    vox = cfg.fov_mm / cfg.volume
    return ConeGeometry(
        DSD=cfg.DSD,
        DSO=cfg.DSO,
        nDetector=(cfg.detector, cfg.detector),
        dDetector=(pix, pix),
        nVoxel=(cfg.volume,) * 3,
        dVoxel=(vox,) * 3,
    )


def _trace(cfg: PhantomConfig) -> BreathingTrace:
    return make_trace(
        cfg.scan_s,
        cfg.period_s,
        cfg.trace,
        period_jitter=cfg.period_jitter,
        amplitude_jitter=cfg.amplitude_jitter,
        drift=cfg.drift,
        seed=cfg.seed,
    )


def fine_geometry(geo: ConeGeometry, k: int) -> ConeGeometry:
    """The same volume on a grid k times finer (same extent, hence the same scene scale)."""
    return dataclasses.replace(
        geo,
        nVoxel=tuple(n * k for n in geo.nVoxel),
        dVoxel=tuple(d / k for d in geo.dVoxel),
    )


def truth_oversample(scan: Scan) -> int:
    """Sub-samples per axis behind each ground-truth voxel: the phantom's `oversample` (its
    truth is the mean of that many^3 samples per voxel); 1 for scans from elsewhere.
    """
    return max(1, int(scan.meta.get("oversample", 1) or 1))


def _thorax(cfg: PhantomConfig, geo: ConeGeometry, d: float, phi: float) -> torch.Tensor:
    """The phantom sampled on `geo`'s voxel centres (edges anti-aliased over one voxel)."""
    pts = voxel_centres(geo, torch.float32) / geo.scale
    return thorax_volume(pts, d, phi, cfg.amplitude_mm, geo.dVoxel[0])


def block_mean(vol: torch.Tensor, k: int) -> torch.Tensor:
    """Mean over k^3 blocks: the scoring-grid truth of a k times finer volume."""
    if k == 1:
        return vol
    n = [s // k for s in vol.shape]
    return vol.reshape(n[0], k, n[1], k, n[2], k).mean((1, 3, 5))


def _project(
    cfg: PhantomConfig,
    geo: ConeGeometry,
    trace: BreathingTrace,
    angles: np.ndarray,
    times: np.ndarray,
) -> np.ndarray:
    """Each view ray-marched through the phantom at its own time on the oversampled grid."""
    fine = fine_geometry(geo, cfg.oversample)
    phi, d = trace.at(times)
    if cfg.static:
        phi, d = np.zeros_like(phi), np.zeros_like(d)
    out = []
    for a, p, dd in zip(angles, phi, d):
        vol = _thorax(cfg, fine, float(dd), float(p))
        out.append(raymarch(fine, vol, torch.tensor([a], dtype=torch.float32))[0])
    if not out:
        return np.zeros((0, *geo.nDetector), np.float32)
    return torch.stack(out).numpy()


def _noisy(
    cfg: PhantomConfig, geo: ConeGeometry, proj: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Poisson counts on the physical transmission exp(-mu_w / 0.2 * integral in mm)."""
    if cfg.photons <= 0:
        return proj
    to_phys = cfg.mu_water_mm / 0.2 / geo.scale  # scene-unit integral -> optical depth
    counts = rng.poisson(cfg.photons * np.exp(-proj.astype(np.float64) * to_phys))
    depth = -np.log(np.maximum(counts, 1) / cfg.photons)
    return (depth / to_phys).astype(np.float32)


def truth_volumes(cfg: PhantomConfig, times_s: np.ndarray) -> np.ndarray:
    """(T, nx, ny, nz) ground truth at `times_s`: the phantom drawn `oversample` times finer
    at each time and block-averaged onto the scoring grid (what `simulate_scan` stores).
    """
    geo, trace = geometry_of(cfg), _trace(cfg)
    on = 0.0 if cfg.static else 1.0
    fine, k = fine_geometry(geo, cfg.oversample), cfg.oversample
    phi, d = trace.at(np.asarray(times_s, dtype=np.float64))
    vols = [block_mean(_thorax(cfg, fine, on * dd, on * p), k).numpy() for p, dd in zip(phi, d)]
    return np.stack(vols).astype(np.float32)


def _phase_times(trace: BreathingTrace, cycle: int, n_phases: int) -> np.ndarray:
    """Times (s) of the phases k / n_phases of breathing cycle `cycle` of `trace`."""
    return np.array([trace.time_of_phase(cycle + k / n_phases) for k in range(n_phases)])


def cycle_phase_times(cfg: PhantomConfig) -> np.ndarray:
    """(C, n_phases) times (s) of the phases k / n_phases of every whole breathing cycle of
    the scan; `simulate_scan` scores the middle cycle's row only.
    """
    trace = _trace(cfg)
    first = math.ceil(trace.phase_cycles[0])
    last = math.floor(trace.phase_cycles[-1]) - 1  # the last cycle that ends inside the scan
    return np.stack([_phase_times(trace, c, cfg.n_phases) for c in range(first, last + 1)])


def motion_truth(cfg: PhantomConfig, trace: BreathingTrace, times: np.ndarray) -> dict:
    """Ground-truth tumour centre (N, 3) and diaphragm apex height (N,) in mm at `times`."""
    phi, d = trace.at(times)
    if cfg.static:
        phi, d = np.zeros_like(phi), np.zeros_like(d)
    return {
        "tumour_mm": tumour_centre_mm(d, phi, cfg.amplitude_mm),
        "diaphragm_mm": diaphragm_apex_mm(d, cfg.amplitude_mm),
    }


def simulate_scan(cfg: PhantomConfig) -> Scan:
    """Continuous-time acquisition of the breathing thorax (see `phantom`)."""
    geo = geometry_of(cfg)
    geo.validate()
    rng = np.random.default_rng(cfg.seed + 1)
    trace = _trace(cfg)
    total = math.radians(cfg.total_angle_deg)
    n = cfg.n_views
    t_train = (np.arange(n) + 0.5) / n * cfg.scan_s
    t_val = (np.arange(cfg.n_val) + 0.25) / max(cfg.n_val, 1) * cfg.scan_s
    sets = []
    for t in (t_train, t_val):
        ang = t / cfg.scan_s * total
        proj = _noisy(cfg, geo, _project(cfg, geo, trace, ang, t), rng)
        phi, _ = trace.at(t)
        err = rng.normal(0.0, cfg.phase_noise, size=t.shape) if cfg.phase_noise > 0 else 0.0
        period_here = 1.0 / np.interp(
            t, trace.time_s[1:], 1.0 / np.diff(trace.time_s) * np.diff(trace.phase_cycles)
        )
        sets.append(Views(ang, proj, t + err * period_here, np.mod(phi + err, 1.0)))
    train, val = sets
    if cfg.sparse_stride > 1:
        train = train.subset(np.arange(0, n, cfg.sparse_stride))
    mid = math.floor(trace.at(cfg.scan_s / 2)[0])
    vt = _phase_times(trace, mid, cfg.n_phases)
    vols = truth_volumes(cfg, vt)
    step = max(1, len(trace.time_s) // 3000)
    bt = trace.time_s[::step]
    breathing = {
        "time": bt,
        "signal": trace.displacement[::step],
        "phase_cycles": trace.phase_cycles[::step],
        **motion_truth(cfg, trace, bt),
    }
    return Scan(
        geo=geo,
        train=train,
        val=val if cfg.n_val else None,
        scan_s=cfg.scan_s,
        volumes=vols.astype(np.float32),
        volume_time_s=vt,
        volume_phase=np.arange(cfg.n_phases) / cfg.n_phases,
        breathing=breathing,
        meta={
            "generator": "physx4dct phantom",
            "mean_period_s": trace.mean_period_s(),
            "oversample": cfg.oversample,
            "photons": cfg.photons,
        },
    )
