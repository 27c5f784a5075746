"""Optional CUDA X-ray rasterizer (R²-Gaussian / X²-Gaussian), behind the torch splatter's API.

`get_splatter("torch")` is `projector.splat_view` (the default, CPU and GPU). `get_splatter(
"cuda")` wraps `xray_gaussian_rasterization_voxelization.GaussianRasterizer` (the CUDA kernel of
R²-Gaussian, used by X²-Gaussian; non-commercial licence, installed separately) with the same
geometry: the camera is built as their `Camera` builds it from NAF's `angle2pose` in scene
units (world-to-view from the pose, cone-beam projection matrix with znear 0.01, zfar 100,
field of view 2 atan(sDetector / 2 / DSD)), and each Gaussian is passed as its precomputed 3D
covariance and density. Without CUDA or the package, asking for it is a one-line `UserError`.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from common.errors import UserError
from physx4dct.geometry import ConeGeometry
from physx4dct.projector import splat_view

__all__ = ["cuda_rasterizer_available", "get_splatter", "splat_view_cuda", "camera_matrices"]

_PACKAGE = "xray_gaussian_rasterization_voxelization"


def cuda_rasterizer_available() -> bool:
    """True when a CUDA device and the X-ray rasterizer package are both present."""
    return torch.cuda.is_available() and importlib.util.find_spec(_PACKAGE) is not None


def _angle2pose(dso: float, angle: float) -> np.ndarray:
    """NAF / R²-Gaussian camera-to-world pose at gantry `angle` (source at DSO (cos, sin, 0))."""
    r1 = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # -90 deg about x
    r2 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # +90 deg about z
    c, s = math.cos(angle), math.sin(angle)
    r3 = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    pose = np.eye(4)
    pose[:3, :3] = r3 @ r2 @ r1
    pose[:3, 3] = [dso * c, dso * s, 0.0]
    return pose


def camera_matrices(geo: ConeGeometry, angle: float) -> dict[str, Tensor | float]:
    """View, full projection (both transposed, as the kernel reads them), camera centre and
    tan of the half fields of view, in scene units (R²-Gaussian's `Camera`).
    """
    k = geo.scale
    w2c = np.linalg.inv(_angle2pose(geo.DSO * k, angle))
    view = torch.tensor(w2c, dtype=torch.float32).T
    tan_x = geo.nDetector[1] * geo.dDetector[1] * k / 2 / (geo.DSD * k)
    tan_y = geo.nDetector[0] * geo.dDetector[0] * k / 2 / (geo.DSD * k)
    znear, zfar = 0.01, 100.0
    proj = torch.zeros(4, 4)
    proj[0, 0], proj[1, 1] = 1.0 / tan_x, 1.0 / tan_y
    proj[3, 2], proj[2, 2] = 1.0, zfar / (zfar - znear)
    proj[2, 3] = -(zfar * znear) / (zfar - znear)
    full = view @ proj.T
    return {
        "view": view,
        "full": full,
        "campos": torch.linalg.inv(view)[3, :3],
        "tanfovx": tan_x,
        "tanfovy": tan_y,
    }


def splat_view_cuda(
    geo: ConeGeometry,
    angle: Tensor,
    means: Tensor,
    cov: Tensor,
    density: Tensor,
    budget: int = 0,
) -> Tensor:
    """Projection (H, W) by the CUDA rasterizer (same arguments as `projector.splat_view`)."""
    import xray_gaussian_rasterization_voxelization as xr

    if any(geo.offDetector):
        raise UserError("the CUDA rasterizer needs offDetector = 0", path="--rasterizer")
    dev = means.device
    m = camera_matrices(geo, float(angle))
    settings = xr.GaussianRasterizationSettings(
        image_height=int(geo.nDetector[0]),
        image_width=int(geo.nDetector[1]),
        tanfovx=m["tanfovx"],
        tanfovy=m["tanfovy"],
        scale_modifier=1.0,
        viewmatrix=m["view"].to(dev),
        projmatrix=m["full"].to(dev),
        campos=m["campos"].to(dev),
        prefiltered=False,
        mode=1,
        debug=False,
    )
    off = torch.tensor(geo.offOrigin, dtype=means.dtype, device=dev) * geo.scale
    iu = torch.triu_indices(3, 3)
    img, _ = xr.GaussianRasterizer(raster_settings=settings)(
        means3D=(means + off).float(),
        means2D=torch.zeros_like(means, dtype=torch.float32),
        opacities=density.float()[:, None],
        scales=None,
        rotations=None,
        cov3D_precomp=cov[:, iu[0], iu[1]].float(),
    )
    return img[0].to(means.dtype)


def get_splatter(name: str = "torch") -> Callable[..., Tensor]:
    """The projector `name` (torch | cuda); a one-line UserError when cuda is unavailable."""
    if name == "torch":
        return splat_view
    if name != "cuda":
        raise UserError(f"unknown rasterizer {name!r} (torch | cuda)", path="--rasterizer")
    if not cuda_rasterizer_available():
        raise UserError(
            f"cuda needs a CUDA device and the {_PACKAGE} package (R²-Gaussian's rasterizer, "
            "non-commercial licence); use the default torch splatter",
            path="--rasterizer",
        )
    return splat_view_cuda
