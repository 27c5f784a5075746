"""Feldkamp-Davis-Kress (FDK) cone-beam reconstruction in torch (Kak & Slaney ch. 3.6).

With DSO = D, detector coordinates rescaled to the iso-centre plane (u, v) and the source at
angle theta, the reconstruction is

    f(x) = 1/2 sum_j dtheta_j (D / U_j(x))^2 Q_j(u_j(x), v_j(x)),
    Q_j = (p_j * D / sqrt(D^2 + u^2 + v^2)) *_u h,    U_j(x) = D - x . s_hat_j,

h the ramp filter (Ram-Lak, optionally apodised by a Hann window) and dtheta_j the angular
interval of view j (half the gap to each neighbour on the circle, so irregular angle sets such
as phase bins are weighted correctly). Lengths are scene units, the output is indexed [x,y,z].
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from physx4dct.geometry import ConeGeometry, detector_uv, view_frames, voxel_centres

__all__ = ["angular_weights", "ramp_filter", "fdk"]


def angular_weights(angles: Tensor) -> Tensor:
    """dtheta_j (rad): half the circular gap to the previous plus to the next view."""
    n = angles.shape[0]
    if n == 1:
        return torch.full_like(angles, 2 * math.pi)
    a = torch.remainder(angles, 2 * math.pi)
    order = torch.argsort(a)
    s = a[order]
    gaps = torch.diff(torch.cat([s, s[:1] + 2 * math.pi]))
    w_sorted = 0.5 * (gaps + torch.roll(gaps, 1))
    w = torch.empty_like(angles)
    w[order] = w_sorted
    return w


def ramp_filter(
    n: int, tau: float, window: str = "hann", dtype: torch.dtype = torch.float64
) -> Tensor:
    """Frequency response (rfft of length 2^k >= 2n) of the band-limited spatial ramp filter."""
    size = 1 << int(math.ceil(math.log2(2 * n)))
    k = torch.arange(size, dtype=dtype)
    k = torch.where(k > size // 2, k - size, k)
    h = torch.zeros(size, dtype=dtype)
    h[0] = 1.0 / (4 * tau**2)
    odd = k.remainder(2) == 1
    h[odd] = -1.0 / (math.pi**2 * tau**2 * k[odd] ** 2)
    resp = torch.fft.rfft(h).real * tau
    if window == "hann":
        f = torch.linspace(0, 1, resp.shape[0], dtype=dtype)
        resp = resp * (0.5 + 0.5 * torch.cos(math.pi * f))
    elif window != "ramlak":
        raise ValueError(f"unknown FDK filter window {window!r} (ramlak | hann)")
    return resp


def _filtered(geo: ConeGeometry, proj: Tensor, window: str) -> Tensor:
    """Cosine-weighted, ramp-filtered projections on the iso-centre detector."""
    dso, dsd = geo.DSO * geo.scale, geo.DSD * geo.scale
    u, v = detector_uv(geo, proj.dtype, proj.device)
    ui, vi = u * dso / dsd, v * dso / dsd
    weight = dso / torch.sqrt(dso**2 + ui[None, :] ** 2 + vi[:, None] ** 2)
    tau = geo.dDetector[1] * geo.scale * dso / dsd
    resp = ramp_filter(proj.shape[-1], tau, window, proj.dtype).to(proj.device)
    size = 2 * (resp.shape[0] - 1)
    spec = torch.fft.rfft(proj * weight, n=size, dim=-1) * resp
    return torch.fft.irfft(spec, n=size, dim=-1)[..., : proj.shape[-1]]


def fdk(
    geo: ConeGeometry,
    projections: Tensor,
    angles: Tensor,
    window: str = "hann",
    view_chunk: int = 8,
) -> Tensor:
    """FDK volume (nx, ny, nz) from projections (N, H, W) at angles (N,) (rad)."""
    q = _filtered(geo, projections, window)
    dtheta = angular_weights(angles)
    src, f, e_u, e_v = view_frames(geo, angles.to(projections.dtype))
    dso, dsd = geo.DSO * geo.scale, geo.DSD * geo.scale
    u, v = detector_uv(geo, projections.dtype, projections.device)
    xyz = voxel_centres(geo, projections.dtype, projections.device).reshape(-1, 3)
    vol = torch.zeros(xyz.shape[0], dtype=projections.dtype, device=projections.device)
    for k in range(0, angles.shape[0], view_chunk):
        sl = slice(k, k + view_chunk)
        d = xyz[None] - src[sl, None, :]  # (B, V, 3)
        depth = (d * f[sl, None, :]).sum(-1)
        uu = dsd * (d * e_u[sl, None, :]).sum(-1) / depth
        vv = dsd * (d * e_v[sl, None, :]).sum(-1) / depth
        gx = 2 * (uu - u[0]) / (u[-1] - u[0]) - 1
        gy = 2 * (vv - v[0]) / (v[-1] - v[0]) - 1
        grid = torch.stack([gx, gy], -1)[:, None]  # (B, 1, V, 2)
        samp = F.grid_sample(
            q[sl, None], grid, mode="bilinear", padding_mode="zeros", align_corners=True
        )[:, 0, 0]
        vol = vol + (samp * (dso / depth) ** 2 * dtheta[sl, None]).sum(0)
    return (0.5 * vol).reshape(tuple(geo.nVoxel))


def fdk_numpy(
    geo: ConeGeometry, projections: np.ndarray, angles: np.ndarray, window: str = "hann"
) -> np.ndarray:
    """Convenience wrapper on numpy arrays (float64 internally)."""
    vol = fdk(
        geo,
        torch.from_numpy(np.asarray(projections, np.float64)),
        torch.from_numpy(np.asarray(angles, np.float64)),
        window,
    )
    return vol.float().numpy()
