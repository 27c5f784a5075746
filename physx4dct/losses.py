"""Loss terms of the 4D Gaussian reconstruction (X²-Gaussian, R²-Gaussian).

* projection loss  L = (1 - l) |I - I_gt|_1 + l (1 - SSIM(I, I_gt))      (3DGS, l = 0.25)
* 3D TV            L_tv = mean |grad sigma| over a random sub-volume       (R²-Gaussian)
* periodic         L_pc = L(render(t + T), I_gt(t))                         (X²-Gaussian SSRML)
"""

from __future__ import annotations

from torch import Tensor

from physx4dct.metrics import ssim2d

__all__ = ["projection_loss", "tv3d"]


def projection_loss(pred: Tensor, gt: Tensor, dssim: float) -> Tensor:
    """(1 - dssim) L1 + dssim (1 - SSIM) of projections (B, H, W)."""
    l1 = (pred - gt).abs().mean()
    if dssim <= 0:
        return l1
    s = ssim2d(pred[:, None], gt[:, None])
    return (1 - dssim) * l1 + dssim * (1 - s)


def tv3d(vol: Tensor) -> Tensor:
    """Anisotropic 3D total variation: mean absolute forward difference along each axis."""
    dx = (vol[1:] - vol[:-1]).abs().mean()
    dy = (vol[:, 1:] - vol[:, :-1]).abs().mean()
    dz = (vol[:, :, 1:] - vol[:, :, :-1]).abs().mean()
    return dx + dy + dz
