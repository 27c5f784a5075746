"""Volumes per phase from a trained model or from FDK, and their scores against ground truth.

The ground truth of a scan holds P volumes at times t_k (phase k / P of the middle breathing
cycle). A 4D model is voxelised at t_k; a static model gives one volume for every phase;
FDK `binned` reconstructs phase bin k from the views whose recorded phase falls in
[(k - 1/2) / P, (k + 1/2) / P); FDK `all` uses every view (motion-blurred).
"""

from __future__ import annotations

import numpy as np
import torch

from physx4dct.data import Scan, block_mean, fine_geometry, phase_bins, truth_oversample
from physx4dct.fdk import fdk
from physx4dct.metrics import volume_metrics
from physx4dct.model import Model4D
from physx4dct.voxelizer import full_grid, voxelize

__all__ = ["model_volumes", "fdk_volumes", "score_volumes", "score_scan", "motion_trace"]


@torch.no_grad()
def model_volume(
    model: Model4D,
    scan: Scan,
    time_s: float | None,
    budget: int = 4_000_000,
    oversample: int | None = None,
) -> torch.Tensor:
    """Voxelised model (nx, ny, nz) at time `time_s` (None or static model: canonical).

    Sampled as the scan's ground truth is: the mean of `oversample`^3 points per voxel on the
    finer grid (default `data.truth_oversample`: the phantom's oversampling, 1 for external
    scans). One point per voxel would compare a sharp model's value at the voxel centre with
    a cell average, which penalises resolving what the projections resolve.
    """
    k = truth_oversample(scan) if oversample is None else oversample
    dtype = model.cloud.xyz.dtype
    t = None if time_s is None else torch.tensor(time_s / scan.scan_s, dtype=dtype)
    means, cov, dens, _ = model.gaussians_at(t)
    vol = voxelize(means, cov, dens, full_grid(fine_geometry(scan.geo, k)), budget)
    return block_mean(vol, k)


def model_volumes(model: Model4D, scan: Scan, oversample: int | None = None) -> np.ndarray:
    """(P, nx, ny, nz) volumes at the ground-truth times (sampling: `model_volume`)."""
    times = scan.volume_time_s if scan.volume_time_s is not None else [None]
    return np.stack(
        [
            model_volume(model, scan, None if t is None else float(t), oversample=oversample)
            .float()
            .numpy()
            for t in times
        ]
    )


def fdk_volumes(scan: Scan, mode: str = "binned") -> np.ndarray:
    """(P, nx, ny, nz) FDK volumes: `binned` per phase bin or `all` projections."""
    proj = torch.as_tensor(scan.train.projections, dtype=torch.float64)
    ang = torch.as_tensor(scan.train.angles, dtype=torch.float64)
    n_phase = 1 if scan.volumes is None else scan.volumes.shape[0]
    if mode == "all":
        vol = fdk(scan.geo, proj, ang).float().numpy()
        return np.repeat(vol[None], n_phase, axis=0)
    if mode != "binned":
        raise ValueError(f"unknown FDK mode {mode!r} (binned | all)")
    bins = phase_bins(scan.train.phase, n_phase)
    out = []
    for k in range(n_phase):
        sel = torch.as_tensor(np.nonzero(bins == k)[0])
        if sel.numel() == 0:
            out.append(np.zeros(scan.geo.nVoxel, np.float32))
            continue
        out.append(fdk(scan.geo, proj[sel], ang[sel]).float().numpy())
    return np.stack(out)


def score_volumes(pred: np.ndarray, gt: np.ndarray) -> dict:
    """Per-phase and mean PSNR3D/SSIM3D in both conventions, over EVERY ground-truth phase.

    `pred` (P, nx, ny, nz) matches `gt` phase by phase; a single volume (1, ...) (a static
    model) is scored against each phase. Any other count is an error, never a truncation.
    """
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape[0] == 1 and gt.shape[0] > 1:
        pred = np.repeat(pred, gt.shape[0], axis=0)
    if pred.shape != gt.shape:
        raise ValueError(f"{pred.shape[0]} predicted volumes for {gt.shape[0]} phases")
    per = [volume_metrics(torch.from_numpy(p), torch.from_numpy(g)) for p, g in zip(pred, gt)]
    keys = per[0].keys()
    return {"per_phase": per, "mean": {k: float(np.mean([m[k] for m in per])) for k in keys}}


@torch.no_grad()
def motion_trace(
    model: Model4D, scan: Scan, n: int = 300, top: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Learned breathing signal: mean superior-inferior displacement (mm) over time of the
    `top` fraction of Gaussians that move most; returns (time_s (n,), dz_mm (n,)).
    """
    times = np.linspace(0.0, scan.scan_s, n)
    field = model.deformation
    if field is None:
        return times, np.zeros(n)
    xyz = model.cloud.xyz
    dz = torch.stack(
        [field(xyz, torch.tensor(t / scan.scan_s, dtype=xyz.dtype)).dx[:, 2] for t in times]
    )  # (n, N)
    k = max(1, int(top * dz.shape[1]))
    movers = dz.std(0).topk(k).indices
    return times, dz[:, movers].mean(1).double().numpy() / scan.geo.scale


def score_scan(pred: np.ndarray, scan: Scan) -> dict:
    """`score_volumes` against the scan's ground truth plus, when the scan holds the motion
    truth (phantom), tumour and diaphragm errors in mm (`motion.score_motion`).
    """
    from physx4dct.motion import score_motion

    scores = score_volumes(pred, scan.volumes)
    motion = score_motion(pred, scan)
    if motion is not None:
        scores["motion"] = motion
    return scores
