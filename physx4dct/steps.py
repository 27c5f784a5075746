"""One training iteration's objective: rendering, the loss terms, validation.

`render_projection` splats the model at a gantry angle and a normalised time; `_step_loss`
sums L1 + D-SSIM on the rendered projections, the deformation's own loss terms, 3D TV on a
random sub-volume, the HexPlane smoothness terms and the periodic consistency loss
|render(t + T) - I(t)| (X²-Gaussian); `validate` scores held-out projections. `train.py`
runs the loop around these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from physx4dct.config import Config
from physx4dct.data import Scan
from physx4dct.deformation import DeformOut
from physx4dct.geometry import ConeGeometry, crop_detector
from physx4dct.losses import projection_loss, tv3d
from physx4dct.model import Model4D
from physx4dct.projector import splat_view
from physx4dct.rasterizer import get_splatter
from physx4dct.voxelizer import random_subgrid, voxelize

__all__ = ["render_projection", "validate"]


@dataclass
class _Data:
    """Training tensors on the device."""

    scan: Scan
    proj: Tensor
    angles: Tensor
    t: Tensor
    val_proj: Tensor | None
    val_angles: Tensor | None
    val_t: Tensor | None


def _to_device(scan: Scan, device: torch.device, dtype: torch.dtype) -> _Data:
    def tens(x: Any) -> Tensor:
        return torch.as_tensor(x, dtype=dtype, device=device)

    v = scan.val
    return _Data(
        scan,
        tens(scan.train.projections),
        tens(scan.train.angles),
        tens(scan.train.time_s / scan.scan_s),
        tens(v.projections) if v else None,
        tens(v.angles) if v else None,
        tens(v.time_s / scan.scan_s) if v else None,
    )


def render_projection(
    model: Model4D,
    geo: ConeGeometry,
    angle: Tensor,
    t: Tensor | None,
    step: int = 0,
    budget: int = 2_000_000,
    rasterizer: str = "torch",
) -> tuple[Tensor, DeformOut | None, tuple[Tensor, Tensor, Tensor]]:
    """Projection (H, W) at gantry `angle` and normalised time `t` (None = canonical)."""
    means, cov, dens, out = model.gaussians_at(t, step)
    splat = splat_view if rasterizer == "torch" else get_splatter(rasterizer)
    return splat(geo, angle, means, cov, dens, budget), out, (means, cov, dens)


def _step_loss(
    model: Model4D, cfg: Config, data: _Data, step: int, gen: torch.Generator, fine: bool
) -> tuple[Tensor, dict[str, float]]:
    """Total loss of one iteration and its logged parts."""
    tc, lc, geo = cfg.train, cfg.loss, data.scan.geo
    idx = torch.randint(0, data.proj.shape[0], (tc.views_per_step,), generator=gen)
    preds, gts, parts, extra = [], [], {}, 0.0
    gauss = patch0 = None
    for j in idx.tolist():
        t = data.t[j] if fine else None
        view_geo, gt = _patch(geo, data.proj[j], tc.patch, gen)
        patch0 = patch0 or (view_geo, gt)
        pred, out, g = render_projection(
            model, view_geo, data.angles[j], t, step, tc.budget, tc.rasterizer
        )
        preds.append(pred)
        gts.append(gt)
        gauss = gauss or g
        if out is not None:
            for k, v in out.losses.items():
                extra = extra + v / len(idx)
                parts[k] = parts.get(k, 0.0) + float(v.detach()) / len(idx)
            parts.update({k: float(v) for k, v in out.stats.items()})
    loss = projection_loss(torch.stack(preds), torch.stack(gts), lc.dssim)
    parts["proj"] = float(loss.detach())
    loss = loss + extra
    if lc.tv > 0 and step % lc.tv_every == 0:
        sub, _ = random_subgrid(geo, lc.tv_size, gen)
        tv = tv3d(voxelize(*gauss, sub, budget=tc.budget))
        loss = loss + lc.tv * tv
        parts["tv"] = float(tv.detach())
    if fine and model.hexplane is not None:
        sm = model.hexplane.smoothness()
        loss = (
            loss
            + lc.plane_tv * sm["plane_tv"]
            + lc.time_smooth * sm["time_smooth"]
            + lc.time_l1 * sm["time_l1"]
        )
    surrogate = getattr(model.deformation, "uses_surrogate", False)  # no period to learn
    if fine and lc.period > 0 and not surrogate and step >= tc.coarse_iterations + lc.period_from:
        loss = loss + lc.period * _periodic_loss(model, cfg, data, idx[0], step, parts, patch0)
    return loss, parts


def _patch(
    geo: ConeGeometry, proj: Tensor, size: int, gen: torch.Generator
) -> tuple[ConeGeometry, Tensor]:
    """A random size x size patch of one view: its scanner (`crop_detector`) and its pixels;
    the whole view when ``size`` is 0 or not smaller than the detector.

    The patch is one tile, drawn uniformly, of a tiling of the detector (the last row and
    column of tiles shifted inside when the size does not divide it), so every pixel is
    drawn about equally often; patches at uniformly random positions would reach a pixel
    near the detector's edge far less often than one near its centre.
    """
    h, w = geo.nDetector
    if size <= 0 or (size >= h and size >= w):
        return geo, proj
    ph, pw = min(size, h), min(size, w)
    nh, nw = -(-h // ph), -(-w // pw)
    k = int(torch.randint(0, nh * nw, (1,), generator=gen))
    row, col = min(k // nw * ph, h - ph), min(k % nw * pw, w - pw)
    return crop_detector(geo, row, col, ph, pw), proj[row : row + ph, col : col + pw]


def _periodic_loss(
    model: Model4D,
    cfg: Config,
    data: _Data,
    j: Tensor,
    step: int,
    parts: dict,
    patch: tuple[ConeGeometry, Tensor] | None = None,
) -> Tensor:
    """L(render(t + T), I(t)) with T = exp(tau) / scan (t - T when t + T leaves the scan), on
    the detector patch of view ``j`` that the step rendered (`patch`: scanner and pixels).
    """
    period = model.period_s() / model.scan_s
    t = data.t[j]
    shifted = torch.where(t + period <= 1.0, t + period, t - period)
    geo, gt = patch or (data.scan.geo, data.proj[j])
    pred, _, _ = render_projection(
        model, geo, data.angles[j], shifted, step, cfg.train.budget, cfg.train.rasterizer
    )
    pc = projection_loss(pred[None], gt[None], cfg.loss.dssim)
    parts["periodic"] = float(pc.detach())
    return pc


@torch.no_grad()
def validate(model: Model4D, cfg: Config, data: _Data) -> dict[str, float]:
    """PSNR (dB) of the validation projections, peak = max of the measured ones."""
    if data.val_proj is None or data.val_proj.shape[0] == 0:
        return {}
    mse = []
    for k in range(data.val_proj.shape[0]):
        t = data.val_t[k] if model.deformation is not None else None
        pred, _, _ = render_projection(
            model,
            data.scan.geo,
            data.val_angles[k],
            t,
            budget=cfg.train.budget,
            rasterizer=cfg.train.rasterizer,
        )
        mse.append(float(((pred - data.val_proj[k]) ** 2).mean()))
    peak = float(data.val_proj.max())
    return {"val_psnr": 10 * math.log10(peak**2 / max(sum(mse) / len(mse), 1e-20))}
