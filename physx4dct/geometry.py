"""Circular cone-beam geometry in the NAF / SAX-NeRF / X²-Gaussian (TIGRE) convention.

Stored (pickle) quantities are in millimetres: DSD (source-detector), DSO (source-origin),
nDetector = [H, W] pixels (rows v, columns u), dDetector = [dv, du], nVoxel = [nx, ny, nz],
dVoxel = [dx, dy, dz], offOrigin = [x, y, z] and offDetector = [v, u]. Internally everything
is converted to *scene units*: p_scene = (p_mm - offOrigin) * k with k = 2 / max(sVoxel) so the
volume fills the cube [-1,1]^3; projections are line integrals with lengths in scene units.

At gantry angle theta (NAF `angle2pose`) the source sits at S = DSO (cos, sin, 0); the central
ray points along f = (-cos, -sin, 0), detector columns along e_u = (-sin, cos, 0) and rows along
e_v = (0, 0, -1). Pixel (row j, column i) lies at S + DSD f + u e_u + v e_v with
u = (i + 0.5 - W/2) du + off_u and v = (j + 0.5 - H/2) dv + off_v.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["ConeGeometry", "crop_detector", "view_frames", "pixel_rays", "voxel_centres"]


@dataclass(frozen=True)
class ConeGeometry:
    """A circular cone-beam scanner; lengths in mm as stored in the NAF pickle."""

    DSD: float = 1500.0
    """Distance source -> detector (mm)."""
    DSO: float = 1000.0
    """Distance source -> rotation axis (mm)."""
    nDetector: tuple[int, int] = (64, 64)
    """Detector pixels [H (rows, v), W (columns, u)]."""
    dDetector: tuple[float, float] = (8.0, 8.0)
    """Pixel size [dv, du] (mm)."""
    nVoxel: tuple[int, int, int] = (64, 64, 64)
    """Voxels [nx, ny, nz] of the reconstruction grid."""
    dVoxel: tuple[float, float, float] = (5.0, 5.0, 5.0)
    """Voxel size [dx, dy, dz] (mm)."""
    offOrigin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Offset of the volume centre from the rotation axis (mm)."""
    offDetector: tuple[float, float] = (0.0, 0.0)
    """Offset of the detector centre [v, u] (mm)."""

    @property
    def sVoxel(self) -> tuple[float, float, float]:
        """Total volume size (mm)."""
        return tuple(n * d for n, d in zip(self.nVoxel, self.dVoxel))  # type: ignore[return-value]

    @property
    def scale(self) -> float:
        """Scene units per mm, k = 2 / max(sVoxel)."""
        return 2.0 / max(self.sVoxel)

    @property
    def voxel(self) -> float:
        """Edge of a voxel along the longest axis, scene units (the densify/scale-floor unit)."""
        return 2 * max(self.half_extent) / max(self.nVoxel)

    @property
    def half_extent(self) -> tuple[float, float, float]:
        """Half sizes of the volume in scene units (1 along its longest axis)."""
        return tuple(s * self.scale / 2.0 for s in self.sVoxel)  # type: ignore[return-value]

    def to_dict(self) -> dict:
        """The geometry keys of the NAF pickle (lists, mm)."""
        return {
            "DSD": self.DSD,
            "DSO": self.DSO,
            "nDetector": list(self.nDetector),
            "dDetector": list(self.dDetector),
            "nVoxel": list(self.nVoxel),
            "dVoxel": list(self.dVoxel),
            "offOrigin": list(self.offOrigin),
            "offDetector": list(self.offDetector[:2]),
            "mode": "cone",
        }

    @classmethod
    def from_dict(cls, d: dict) -> ConeGeometry:
        """Build from the geometry keys of a NAF pickle (extra keys are ignored)."""

        def tup(key: str, n: int) -> tuple:
            return tuple(float(v) for v in list(d[key])[:n])

        return cls(
            DSD=float(d["DSD"]),
            DSO=float(d["DSO"]),
            nDetector=tuple(int(v) for v in list(d["nDetector"])[:2]),
            dDetector=tup("dDetector", 2),
            nVoxel=tuple(int(v) for v in list(d["nVoxel"])[:3]),
            dVoxel=tup("dVoxel", 3),
            offOrigin=tup("offOrigin", 3),
            offDetector=tup("offDetector", 2),
        )

    def validate(self) -> None:
        """Raise ValueError for a physically impossible geometry."""
        if not self.DSD > self.DSO > 0:
            raise ValueError(f"need DSD > DSO > 0, got DSD={self.DSD}, DSO={self.DSO}")
        if min(self.nDetector) < 1 or min(self.nVoxel) < 1:
            raise ValueError("nDetector and nVoxel must be positive")
        if min(self.dDetector) <= 0 or min(self.dVoxel) <= 0:
            raise ValueError("dDetector and dVoxel must be positive")
        r = math.sqrt(sum((s / 2 + abs(o)) ** 2 for s, o in zip(self.sVoxel, self.offOrigin)))
        if r >= self.DSO:
            raise ValueError(f"the volume (radius {r:.0f} mm) reaches the source (DSO={self.DSO})")


def crop_detector(geo: ConeGeometry, row: int, col: int, height: int, width: int) -> ConeGeometry:
    """The scanner whose detector is the pixels [row, row + height) x [col, col + width) of
    ``geo``'s (same pixel size, offDetector moved to the patch centre): its projections are
    those pixels of ``geo``'s projections.
    """
    h, w = geo.nDetector
    if not (0 <= row <= h - height and 0 <= col <= w - width and height >= 1 and width >= 1):
        raise ValueError(f"patch {height}x{width} at ({row}, {col}) outside the {h}x{w} detector")
    dv, du = geo.dDetector
    off_v, off_u = geo.offDetector[:2]
    return dataclasses.replace(
        geo,
        nDetector=(height, width),
        offDetector=(
            off_v + (row + height / 2 - h / 2) * dv,
            off_u + (col + width / 2 - w / 2) * du,
        ),
    )


def view_frames(geo: ConeGeometry, angles: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Source position and detector frame per view, in scene units.

    Args:
        angles: (B,) gantry angles (rad).

    Returns
    -------
        src (B,3), f (B,3) central-ray direction, e_u (B,3), e_v (B,3).
    """
    c, s = torch.cos(angles), torch.sin(angles)
    zero = torch.zeros_like(c)
    off = torch.tensor(geo.offOrigin, dtype=angles.dtype, device=angles.device) * geo.scale
    src = torch.stack([c, s, zero], -1) * (geo.DSO * geo.scale) - off
    f = torch.stack([-c, -s, zero], -1)
    e_u = torch.stack([-s, c, zero], -1)
    e_v = torch.stack([zero, zero, -torch.ones_like(c)], -1)
    return src, f, e_u, e_v


def detector_uv(
    geo: ConeGeometry, dtype: torch.dtype = torch.float32, device: torch.device | None = None
) -> tuple[Tensor, Tensor]:
    """Detector coordinates (scene units) of the pixel centres: u (W,), v (H,)."""
    h, w = geo.nDetector
    dv, du = geo.dDetector
    off_v, off_u = geo.offDetector[:2]
    k = geo.scale
    u = ((torch.arange(w, dtype=dtype, device=device) + 0.5 - w / 2) * du + off_u) * k
    v = ((torch.arange(h, dtype=dtype, device=device) + 0.5 - h / 2) * dv + off_v) * k
    return u, v


def pixel_rays(geo: ConeGeometry, angles: Tensor) -> tuple[Tensor, Tensor]:
    """Ray origins and unit directions of every detector pixel.

    Returns
    -------
        origin (B, H, W, 3) = source position, direction (B, H, W, 3) unit vectors (scene units).
    """
    src, f, e_u, e_v = view_frames(geo, angles)
    u, v = detector_uv(geo, angles.dtype, angles.device)
    dsd = geo.DSD * geo.scale
    pix = (
        dsd * f[:, None, None, :]
        + u[None, None, :, None] * e_u[:, None, None, :]
        + v[None, :, None, None] * e_v[:, None, None, :]
    )
    direction = pix / pix.norm(dim=-1, keepdim=True)
    origin = src[:, None, None, :].expand_as(direction)
    return origin, direction


def voxel_centres(
    geo: ConeGeometry, dtype: torch.dtype = torch.float32, device: torch.device | None = None
) -> Tensor:
    """Scene coordinates (nx, ny, nz, 3) of the voxel centres, indexed [x, y, z]."""
    axes = []
    for n, h in zip(geo.nVoxel, geo.half_extent):
        axes.append((torch.arange(n, dtype=dtype, device=device) + 0.5) / n * 2 * h - h)
    gx, gy, gz = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([gx, gy, gz], -1)
