"""Motion in millimetres: tumour centroid trajectory, diaphragm position, displacement error.

The phantom's ground truth (`Scan.breathing`: `tumour_mm` (M, 3), `diaphragm_mm` (M,) on the
trace times) is interpolated to the times of the ground-truth volumes. From any volume per
phase (FDK, a static fit, a 4D model) the same measurements are taken:

* tumour centre: a matched filter (mean over the 10 mm tumour sphere minus mean over the
  shell out to 15 mm, trilinear values on a 1 mm grid) maximised over the box of the true
  trajectory (all phases, the same box for every phase) plus 5 mm. Error = |c_k - c_k^true|
  (mm). (A centroid of the attenuation above the lung's, the earlier estimator, was pulled
  onto the diaphragm dome under the tumour and by streaks: on noisy reconstructions its
  error measured the estimator, not the motion.)
* diaphragm: along the left-lung column (x, y) = `DIAPHRAGM_COLUMN_MM` (mean of the 2x2
  nearest voxel columns, trilinear), from inside the lung downwards, the first height where
  v rises through 0.12 (between lung 0.04 and tissue 0.20), linearly interpolated.
  Error = |z_k - z_k^true| (mm).
* displacement error (4D models, `displacement_error`): the model's Gaussians that sit in the
  tumour at phase 0 are followed through the phases; error = |mean displacement - true
  tumour displacement c_k - c_0| (mm).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import map_coordinates

from physx4dct.data import Scan
from physx4dct.geometry import voxel_centres
from physx4dct.phantom import DIAPHRAGM_COLUMN_MM, TUMOUR_RADIUS_MM

__all__ = [
    "motion_truth_at",
    "tumour_centroids",
    "diaphragm_heights",
    "score_motion",
    "displacement_error",
]

SHELL = 1.5
"""Outer radius of the template's background shell, in tumour radii."""
BOX_MARGIN_MM = 5.0
DIAPHRAGM_THRESHOLD = 0.12


def motion_truth_at(scan: Scan) -> dict[str, np.ndarray] | None:
    """True tumour centre (P, 3) and diaphragm height (P,) (mm) at the ground-truth times."""
    b = scan.breathing
    if not b or "tumour_mm" not in b or scan.volume_time_s is None:
        return None
    t = np.asarray(b["time"], float)
    tum = np.asarray(b["tumour_mm"], float)
    vt = np.asarray(scan.volume_time_s, float)
    return {
        "tumour_mm": np.stack([np.interp(vt, t, tum[:, i]) for i in range(3)], -1),
        "diaphragm_mm": np.interp(vt, t, np.asarray(b["diaphragm_mm"], float)),
    }


def _grid_mm(scan: Scan) -> np.ndarray:
    return (voxel_centres(scan.geo, torch.float64) / scan.geo.scale).numpy()


def tumour_centroids(
    vols: np.ndarray, scan: Scan, start_mm: np.ndarray, box_mm: np.ndarray | None = None
) -> np.ndarray:
    """Tumour centre (P, 3) in mm of each volume (P, nx, ny, nz) by a matched filter.

    The volume is resampled on a 1 mm grid around `box_mm` (2, 3) (lower and upper corner the
    centre may take; default: `start_mm` +- 2 tumour radii) and correlated with a zero-mean
    template, + mean over the tumour sphere - mean over the shell up to `SHELL` radii: a
    bright ball in darker lung scores high, the edge of a large organ (the diaphragm dome
    under the tumour) scores ~0, so noise and streaks do not pull the estimate as they pull
    a centroid. The best 1 mm grid point inside the box is the centre.
    """
    from scipy.signal import fftconvolve

    start = np.asarray(start_mm, float)
    if box_mm is None:
        box_mm = np.stack([start, start]) + np.array([[-2.0], [2.0]]) * TUMOUR_RADIUS_MM
    r, big = TUMOUR_RADIUS_MM, SHELL * TUMOUR_RADIUS_MM
    axes = [np.arange(box_mm[0][i] - big, box_mm[1][i] + big + 0.5, 1.0) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1)
    k = np.arange(-big, big + 0.5, 1.0)
    dist = np.linalg.norm(np.stack(np.meshgrid(k, k, k, indexing="ij"), -1), axis=-1)
    inside, shell = dist <= r, (dist > r) & (dist <= big)
    kernel = inside / inside.sum() - shell / shell.sum()  # symmetric: convolution = correlation
    allowed = np.all((grid >= box_mm[0]) & (grid <= box_mm[1]), -1)
    out = []
    for vol in np.asarray(vols, float):
        field = _sample_mm(vol, scan, grid.reshape(-1, 3)).reshape(grid.shape[:3])
        score = np.where(allowed, fftconvolve(field, kernel, mode="same"), -np.inf)
        out.append(grid[np.unravel_index(np.argmax(score), score.shape)])
    return np.array(out)


def _sample_mm(vol: np.ndarray, scan: Scan, pts_mm: np.ndarray) -> np.ndarray:
    """Trilinear values of `vol` (indexed [x, y, z]) at points (N, 3) in mm (0 outside)."""
    n = np.asarray(scan.geo.nVoxel, float)
    half = np.asarray(scan.geo.half_extent, float)
    idx = (pts_mm * scan.geo.scale + half) / (2 * half) * n - 0.5
    return map_coordinates(vol, idx.T, order=1, mode="constant", cval=0.0)


def diaphragm_heights(vols: np.ndarray, scan: Scan, step_mm: float = 0.25) -> np.ndarray:
    """Diaphragm apex height (P,) in mm of each volume (NaN when no crossing is found)."""
    half_z = scan.geo.half_extent[2] / scan.geo.scale
    zs = np.arange(-half_z, 25.0 + step_mm / 2, step_mm)
    x0, y0 = DIAPHRAGM_COLUMN_MM
    pts = np.stack([np.full_like(zs, x0), np.full_like(zs, y0), zs], -1)
    return np.array([_falling_crossing(zs, _sample_mm(v, scan, pts)) for v in np.asarray(vols)])


def _falling_crossing(zs: np.ndarray, prof: np.ndarray) -> float:
    """From the top of `zs` (inside the lung) downwards, the first z where prof >= threshold."""
    for k in range(len(zs) - 1, 0, -1):
        hi, lo = prof[k], prof[k - 1]
        if hi < DIAPHRAGM_THRESHOLD <= lo:
            f = (DIAPHRAGM_THRESHOLD - hi) / (lo - hi)
            return float(zs[k] + f * (zs[k - 1] - zs[k]))
    return float("nan")


def score_motion(vols: np.ndarray, scan: Scan) -> dict | None:
    """Tumour trajectory and diaphragm errors (mm) per phase and RMS; None without truth."""
    truth = motion_truth_at(scan)
    if truth is None:
        return None
    vols = np.asarray(vols)
    if vols.shape[0] == 1:
        vols = np.repeat(vols, len(truth["diaphragm_mm"]), axis=0)
    traj = truth["tumour_mm"]
    box = np.stack([traj.min(0), traj.max(0)]) + np.array([[-1.0], [1.0]]) * BOX_MARGIN_MM
    cen = tumour_centroids(vols, scan, traj.mean(0), box)
    dia = diaphragm_heights(vols, scan)
    t_err = np.linalg.norm(cen - truth["tumour_mm"], axis=1)
    d_err = np.abs(dia - truth["diaphragm_mm"])
    return {
        "tumour_mm": cen.tolist(),
        "tumour_true_mm": truth["tumour_mm"].tolist(),
        "tumour_error_mm": t_err.tolist(),
        "tumour_rms_mm": float(np.sqrt(np.mean(t_err**2))),
        "diaphragm_mm": dia.tolist(),
        "diaphragm_true_mm": truth["diaphragm_mm"].tolist(),
        "diaphragm_error_mm": d_err.tolist(),
        "diaphragm_rms_mm": float(np.sqrt(np.nanmean(d_err**2))),
        "voxel_mm": float(max(scan.geo.dVoxel)),
    }


@torch.no_grad()
def displacement_error(model: torch.nn.Module, scan: Scan) -> dict | None:
    """Error (mm) of the model's tumour displacement between phase 0 and each phase."""
    truth = motion_truth_at(scan)
    if truth is None or getattr(model, "deformation", None) is None:
        return None
    dtype = model.cloud.xyz.dtype
    centres = []
    for t_s in scan.volume_time_s:
        means, _, _, _ = model.gaussians_at(torch.tensor(t_s / scan.scan_s, dtype=dtype))
        centres.append(means.double().numpy() / scan.geo.scale)  # scene -> mm about the centre
    inside = np.linalg.norm(centres[0] - truth["tumour_mm"][0], axis=1) < TUMOUR_RADIUS_MM
    if not inside.any():
        return None
    moved = np.stack([c[inside].mean(0) for c in centres])
    err = np.linalg.norm((moved - moved[0]) - (truth["tumour_mm"] - truth["tumour_mm"][0]), axis=1)
    return {
        "dvf_error_mm": err.tolist(),
        "dvf_rms_mm": float(np.sqrt(np.mean(err**2))),
        "n_gaussians": int(inside.sum()),
    }
