"""Scans: the NAF / SAX-NeRF / X²-Gaussian `.pickle` format and the simulated breathing thorax.

Pickle layout (a dict; geometry keys in mm, see `geometry`):
    DSD, DSO, nDetector, dDetector, nVoxel, dVoxel, offOrigin, offDetector, mode="cone",
    numTrain, numVal, scanTime (s), totalAngle, startAngle (rad),
    projection_unit: "scene" (line integrals with lengths in scene units) or "mm",
    train / val: {angles (N,) rad, projections (N, H, W) float32, time (N,) s, phase (N,)},
    image: (P, nx, ny, nz) ground-truth volumes per phase indexed [x, y, z] (or one (nx,ny,nz)),
    image_time (P,) s and image_phase (P,) of those volumes,
    breathing: {time, signal, phase_cycles} (the true trace), meta: provenance + config.
Projections are -log of air-normalised intensities, i.e. line integrals of attenuation.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch

from common.io import atomic_path
from physx4dct.config import PhantomConfig
from physx4dct.geometry import ConeGeometry, voxel_centres
from physx4dct.phantom import BreathingTrace, make_trace, thorax_volume
from physx4dct.projector import raymarch

__all__ = ["Views", "Scan", "read_scan", "write_scan", "simulate_scan", "phase_bins"]

_REQUIRED = ("DSD", "DSO", "nDetector", "dDetector", "nVoxel", "dVoxel", "train")


@dataclass
class Views:
    """A set of projections with their angles, acquisition times and breathing phases."""

    angles: np.ndarray
    """(N,) gantry angles (rad)."""
    projections: np.ndarray
    """(N, H, W) line integrals (scene units)."""
    time_s: np.ndarray
    """(N,) acquisition times (s)."""
    phase: np.ndarray
    """(N,) recorded breathing phase in [0, 1) (0 = end-exhale)."""

    def subset(self, idx: np.ndarray) -> Views:
        """Views at indices `idx`."""
        return Views(self.angles[idx], self.projections[idx], self.time_s[idx], self.phase[idx])

    def to_dict(self) -> dict:
        return {
            "angles": self.angles,
            "projections": self.projections,
            "time": self.time_s,
            "phase": self.phase,
        }


@dataclass
class Scan:
    """One 4D (or 3D) cone-beam scan."""

    geo: ConeGeometry
    train: Views
    val: Views | None
    scan_s: float
    """Duration of the acquisition (s); model time is t / scan_s in [0, 1]."""
    volumes: np.ndarray | None = None
    """(P, nx, ny, nz) ground truth per phase (None when unknown)."""
    volume_time_s: np.ndarray | None = None
    volume_phase: np.ndarray | None = None
    breathing: dict | None = None
    meta: dict = field(default_factory=dict)


def write_scan(scan: Scan, path: str | Path) -> None:
    """Write `scan` as a NAF/X²-style pickle, atomically."""
    data: dict[str, Any] = scan.geo.to_dict()
    data.update(
        {
            "numTrain": int(len(scan.train.angles)),
            "numVal": int(len(scan.val.angles)) if scan.val is not None else 0,
            "scanTime": float(scan.scan_s),
            "projection_unit": "scene",
            "startAngle": float(scan.train.angles[0]) if len(scan.train.angles) else 0.0,
            "totalAngle": float(np.ptp(scan.train.angles)) if len(scan.train.angles) else 0.0,
            "train": scan.train.to_dict(),
            "val": scan.val.to_dict() if scan.val is not None else None,
            "image": scan.volumes,
            "image_time": scan.volume_time_s,
            "image_phase": scan.volume_phase,
            "breathing": scan.breathing,
            "meta": scan.meta,
        }
    )
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        pickle.dump(data, handle, protocol=4)


def _views(d: dict, scale: float, unit: str, scan_s: float) -> Views:
    proj = np.asarray(d["projections"], dtype=np.float32)
    if unit == "mm":
        proj = proj * np.float32(scale)
    n = proj.shape[0]
    angles = np.asarray(d["angles"], dtype=np.float64).reshape(-1)
    if angles.shape[0] != n:
        raise ValueError(f"{n} projections but {angles.shape[0]} angles")
    t = d.get("time", d.get("times"))
    t = np.linspace(0, scan_s, n, endpoint=False) if t is None else np.asarray(t, float)
    ph = d.get("phase")
    ph = np.mod(t / scan_s, 1.0) if ph is None else np.asarray(ph, float)
    return Views(angles, proj, t.reshape(-1), ph.reshape(-1))


def read_scan(path: str | Path) -> Scan:
    """Read a NAF / SAX-NeRF / X²-Gaussian pickle; a one-line ClickException when malformed."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = pickle.load(handle)
    except FileNotFoundError:
        raise click.ClickException(f"{path}: file not found") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, IndexError) as exc:
        msg = f"{path}: not a readable pickle ({type(exc).__name__})"
        raise click.ClickException(msg) from None
    if not isinstance(data, dict) or any(k not in data for k in _REQUIRED):
        missing = [k for k in _REQUIRED if not isinstance(data, dict) or k not in data]
        raise click.ClickException(f"{path}: not a NAF/X²-Gaussian scan (missing {missing})")
    try:
        geo = ConeGeometry.from_dict(data)
        geo.validate()
        scan_s = float(data.get("scanTime", 60.0))
        unit = data.get("projection_unit", "scene")
        train = _views(data["train"], geo.scale, unit, scan_s)
        if train.projections.shape[1:] != tuple(geo.nDetector):
            raise ValueError(
                f"projections {train.projections.shape[1:]} do not match "
                f"nDetector {list(geo.nDetector)}"
            )
        val = _views(data["val"], geo.scale, unit, scan_s) if data.get("val") else None
        vols = data.get("image")
        if vols is not None:
            vols = np.asarray(vols, dtype=np.float32)
            vols = vols[None] if vols.ndim == 3 else vols
            if vols.shape[1:] != tuple(geo.nVoxel):
                raise ValueError(f"image {vols.shape[1:]} does not match nVoxel")
    except (KeyError, ValueError, TypeError) as exc:
        raise click.ClickException(f"{path}: malformed scan ({exc})") from None
    times = data.get("image_time")
    return Scan(
        geo=geo,
        train=train,
        val=val,
        scan_s=scan_s,
        volumes=vols,
        volume_time_s=None if times is None else np.asarray(times, float),
        volume_phase=None
        if data.get("image_phase") is None
        else np.asarray(data["image_phase"], float),
        breathing=data.get("breathing"),
        meta=data.get("meta") or {},
    )


def phase_bins(phase: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index of each phase; bin k is centred on phase k / n_bins."""
    return np.floor(np.mod(phase * n_bins + 0.5, n_bins)).astype(int)


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


def _project(
    cfg: PhantomConfig,
    geo: ConeGeometry,
    trace: BreathingTrace,
    angles: np.ndarray,
    times: np.ndarray,
) -> np.ndarray:
    pts = voxel_centres(geo, torch.float32) / geo.scale
    phi, d = trace.at(times)
    out = []
    if cfg.static:
        phi, d = np.zeros_like(phi), np.zeros_like(d)
    for a, p, dd in zip(angles, phi, d):
        vol = thorax_volume(pts, float(dd), float(p), cfg.amplitude_mm, geo.dVoxel[0])
        out.append(raymarch(geo, vol, torch.tensor([a], dtype=torch.float32))[0])
    if not out:
        return np.zeros((0, *geo.nDetector), np.float32)
    return torch.stack(out).numpy()


def _noisy(cfg: PhantomConfig, proj: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if cfg.photons <= 0:
        return proj
    counts = rng.poisson(cfg.photons * np.exp(-proj.astype(np.float64)))
    return (-np.log(np.maximum(counts, 1) / cfg.photons)).astype(np.float32)


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
        proj = _noisy(cfg, _project(cfg, geo, trace, ang, t), rng)
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
    vt = np.array([trace.time_of_phase(mid + k / cfg.n_phases) for k in range(cfg.n_phases)])
    pts = voxel_centres(geo, torch.float32) / geo.scale
    on = 0.0 if cfg.static else 1.0
    vols = np.stack(
        [
            thorax_volume(pts, on * dd, on * p, cfg.amplitude_mm, geo.dVoxel[0]).numpy()
            for p, dd in zip(*trace.at(vt))
        ]
    )
    step = max(1, len(trace.time_s) // 3000)
    breathing = {
        "time": trace.time_s[::step],
        "signal": trace.displacement[::step],
        "phase_cycles": trace.phase_cycles[::step],
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
        meta={"generator": "physx4dct phantom", "mean_period_s": trace.mean_period_s()},
    )
