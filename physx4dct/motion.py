"""Motion in millimetres: tumour centroid trajectory, diaphragm position, displacement error.

The phantom's ground truth (`Scan.breathing`: `tumour_mm` (M, 3), `diaphragm_mm` (M,) on the
trace times) is interpolated to the times of the ground-truth volumes. From any volume per
phase (FDK, a static fit, a 4D model) the same measurements are taken:

* tumour centroid: mean-shift of the centroid of w = max(v - 0.04, 0) (attenuation above the
  lung's, linear in partial volume) over 1 mm points of a sphere of radius 1.8 r_tumour
  (trilinear values), started from the mean of the true trajectory (the same start for every
  phase, so the estimate is not pulled towards the answer phase by phase), its centre kept
  within the box of the true trajectory (all phases) plus 5 mm.
  Error = |c_k - c_k^true| (mm).
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

LUNG_VALUE = 0.04
TUMOUR_WINDOW = 1.8
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
    """Tumour centroid (P, 3) in mm of each volume (P, nx, ny, nz) (see the module docstring).

    `box_mm` (2, 3): lower and upper corner the window centre may not leave (a blurred or
    streaky volume would otherwise walk the window onto neighbouring tissue).
    """
    radius = TUMOUR_WINDOW * TUMOUR_RADIUS_MM
    ax = np.arange(-radius, radius + 0.5, 1.0)
    offs = np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3)
    offs = offs[np.sum(offs**2, 1) <= radius**2]  # 1 mm points filling the sphere
    out = []
    for vol in np.asarray(vols, float):
        c = np.asarray(start_mm, float).copy()
        for _ in range(50):
            pts = c + offs
            w = np.maximum(_sample_mm(vol, scan, pts) - LUNG_VALUE, 0.0)
            if w.sum() <= 0:
                break
            new = (pts * w[:, None]).sum(0) / w.sum()
            if box_mm is not None:
                new = np.clip(new, box_mm[0], box_mm[1])
            done = np.linalg.norm(new - c) < 1e-3
            c = new
            if done:
                break
        out.append(c)
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
