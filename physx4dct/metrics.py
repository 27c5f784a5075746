"""Image and volume quality metrics, in the two conventions used by the 4D-CT literature.

Both are copies of the authors' evaluation code (checked against it in the tests):

* X²-Gaussian (`utils/image_utils.py::metric_vol`, called without `pixel_max`): no
  normalisation; PSNR3D = 10 log10(1 / MSE) (peak 1: the layout's images lie in [0, 1]);
  SSIM3D = mean over the 3 axes of the mean 2D SSIM (Gaussian window 11, sigma 1.5, zero
  padding, C1 = 0.01^2, C2 = 0.03^2) over the slices whose GT maximum is > 0.
* STNF4D (`src/util/util.py::get_psnr_3d / get_ssim_3d`): each volume min-max normalised to
  [0, 1]; PSNR3D with peak 1; SSIM3D = scikit-image's `structural_similarity` of the two 3D
  volumes (7^3 uniform window, sample covariances, borders cropped) with the data range
  scikit-image 0.19 (STNF4D's pinned version) infers for float arrays: 2 (dtype range [-1, 1]).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["ssim2d", "psnr3d_x2", "ssim3d_x2", "psnr3d_stnf", "ssim3d_stnf", "volume_metrics"]


def _gauss_window(
    size: int = 11,
    sigma: float = 1.5,
    dtype: torch.dtype = torch.float32,
    device: torch.device | None = None,
) -> Tensor:
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim2d(a: Tensor, b: Tensor, window: int = 11, data_range: float = 1.0) -> Tensor:
    """Mean SSIM of images (B, 1, H, W) (Wang et al. 2004; zero-padded Gaussian window)."""
    return ssim2d_per_image(a, b, window, data_range).mean()


def ssim2d_per_image(a: Tensor, b: Tensor, window: int = 11, data_range: float = 1.0) -> Tensor:
    """SSIM (B,) of each image pair of (B, 1, H, W)."""
    w = _gauss_window(window, 1.5, a.dtype, a.device)
    pad = window // 2
    mu_a = F.conv2d(a, w, padding=pad)
    mu_b = F.conv2d(b, w, padding=pad)
    s_aa = F.conv2d(a * a, w, padding=pad) - mu_a**2
    s_bb = F.conv2d(b * b, w, padding=pad) - mu_b**2
    s_ab = F.conv2d(a * b, w, padding=pad) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    num = (2 * mu_a * mu_b + c1) * (2 * s_ab + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (s_aa + s_bb + c2)
    return (num / den).flatten(1).mean(1)


def psnr3d_x2(pred: Tensor, gt: Tensor, peak: float = 1.0) -> float:
    """X²-Gaussian PSNR3D (dB): 10 log10(peak^2 / MSE), peak 1 (its `pixel_max`), no
    normalisation.
    """
    mse = float(((pred.double() - gt.double()) ** 2).mean())
    return 100.0 if mse == 0 else 10 * math.log10(peak**2 / mse)


def ssim3d_x2(pred: Tensor, gt: Tensor) -> float:
    """X²-Gaussian SSIM3D: mean over axes of the mean slice SSIM (slices with max(gt) > 0)."""
    means = []
    for axis in range(3):
        g = gt.movedim(axis, 0)[:, None].float()
        p = pred.movedim(axis, 0)[:, None].float()
        keep = g.flatten(1).amax(1) > 0
        if keep.sum() == 0:
            continue
        means.append(float(ssim2d_per_image(p[keep], g[keep]).mean()))
    return sum(means) / max(len(means), 1)


def _norml(x: Tensor) -> Tensor:
    x = x.double()
    return (x - x.min()) / (x.max() - x.min() + 1e-10)


def psnr3d_stnf(pred: Tensor, gt: Tensor) -> float:
    """STNF4D PSNR3D (dB): both volumes min-max normalised, peak 1."""
    mse = float(((_norml(pred) - _norml(gt)) ** 2).mean())
    return 100.0 if mse == 0 else -10 * math.log10(mse)


def ssim3d_stnf(pred: Tensor, gt: Tensor, win: int = 7, data_range: float = 2.0) -> float:
    """STNF4D SSIM3D: skimage `structural_similarity` of the normalised volumes (7^3 window,
    `data_range` 2 as skimage 0.19 infers for floats; see the module docstring).
    """
    a, b = _norml(pred)[None, None], _norml(gt)[None, None]
    n = win**3
    cov_norm = n / (n - 1)

    def filt(x: Tensor) -> Tensor:
        return F.avg_pool3d(x, win, stride=1)

    ux, uy = filt(a), filt(b)
    vx = cov_norm * (filt(a * a) - ux * ux)
    vy = cov_norm * (filt(b * b) - uy * uy)
    vxy = cov_norm * (filt(a * b) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return float(s.mean())


def volume_metrics(pred: Tensor, gt: Tensor) -> dict[str, float]:
    """All four numbers for one volume pair (nx, ny, nz)."""
    return {
        "psnr_x2": psnr3d_x2(pred, gt),
        "ssim_x2": ssim3d_x2(pred, gt),
        "psnr_stnf": psnr3d_stnf(pred, gt),
        "ssim_stnf": ssim3d_stnf(pred, gt),
    }
