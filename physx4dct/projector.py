"""X-ray projectors: Gaussian splatting, trilinear ray marching, exact Gaussian line integrals.

All lengths are scene units (see `geometry`). A Gaussian i has centre mu_i, covariance
Sigma_i = R diag(s^2) R^T and peak density rho_i; the density field is
sigma(x) = sum_i rho_i exp(-1/2 (x - mu_i)^T Sigma_i^-1 (x - mu_i)), and a projection pixel is the
line integral of sigma along its ray (additive: no alpha compositing, no sorting).

* `exact_line_integral`: along o + s d (|d| = 1), with a = d^T A d, b = d^T A r, c = r^T A r,
  A = Sigma^-1, r = o - mu:   integral = rho sqrt(2 pi / a) exp(-1/2 (c - b^2 / a)).
* `splat_view` (R²-Gaussian / X²-Gaussian, local affine cone-beam approximation, for
  Gaussians with std <= `EXACT_ABOVE`; wider ones use `exact_line_integral`): camera
  coordinates x_c = W (mu - S) with rows (e_u, e_v, f); ray-space Jacobian
  J = [[D/z, 0, -D x/z^2], [0, D/z, -D y/z^2], [x/l, y/l, z/l]] (D = DSD, l = |x_c|);
  Sigma' = J W Sigma W^T J^T; footprint covariance Sigma'_2 = top-left 2x2 block; integrating
  the ray-space Gaussian over its third axis gives the footprint weight
  rho sqrt(2 pi det Sigma' / det Sigma'_2). Each Gaussian is evaluated in a square pixel window
  of radius ~3.5 sigma (windows bucketed by size, chunked by `budget`, so memory is bounded).
* `raymarch`: midpoint rule through a trilinearly interpolated voxel volume (zero outside).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from physx4dct.geometry import ConeGeometry, detector_uv, pixel_rays, view_frames

__all__ = [
    "covariance_from",
    "exact_line_integral",
    "splat_view",
    "splat_views",
    "raymarch",
    "window_accumulate",
    "window_radius",
]

EXACT_ABOVE = 0.08
"""Largest std (scene units) a Gaussian may have and still be splatted; wider ones are
integrated exactly per ray. Measured affine-footprint error (share of the peak) at std
0.02 / 0.05 / 0.1 / 0.2 / 0.3: 0.13 / 0.36 / 0.72 / 1.5 / 2.1 %, so splatted Gaussians stay
below ~0.6 %."""
_RADII = (*range(1, 17), 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256)
_NSIGMA = 3.5


def window_radius(sigma_cells: Tensor) -> Tensor:
    """Window half-width (cells) for a Gaussian of std `sigma_cells`: ceil(3.5 sigma) rounded
    up to the next bucket size of `window_accumulate` (so culling and windows agree).
    """
    r = torch.ceil(_NSIGMA * sigma_cells.detach()).long().clamp_min(1)
    levels = torch.tensor(_RADII, device=r.device)
    i = torch.searchsorted(levels, r).clamp(max=len(_RADII) - 1)
    return torch.maximum(levels[i], r)


def covariance_from(log_scale: Tensor, quat: Tensor) -> Tensor:
    """Sigma = R diag(exp(2 log_scale)) R^T, shape (N,3,3); quaternions (w, x, y, z), any norm."""
    q = quat / quat.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(-1)
    rot = torch.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - w * z),
            2 * (x * z + w * y),
            2 * (x * y + w * z),
            1 - 2 * (x * x + z * z),
            2 * (y * z - w * x),
            2 * (x * z - w * y),
            2 * (y * z + w * x),
            1 - 2 * (x * x + y * y),
        ],
        -1,
    ).reshape(-1, 3, 3)
    m = rot * torch.exp(log_scale)[:, None, :]
    return m @ m.transpose(1, 2)


def exact_line_integral(
    origins: Tensor, dirs: Tensor, means: Tensor, cov: Tensor, density: Tensor, chunk: int = 4096
) -> Tensor:
    """Exact line integrals (R,) of the Gaussian mixture along rays origins (R,3) + s dirs (R,3)."""
    dirs = dirs / dirs.norm(dim=-1, keepdim=True)
    prec = torch.linalg.inv(cov)  # (N,3,3)
    out = []
    for k in range(0, origins.shape[0], chunk):
        o, d = origins[k : k + chunk], dirs[k : k + chunk]
        r = o[:, None, :] - means[None]  # (R,N,3)
        ad = torch.einsum("nij,rj->rni", prec, d)
        a = (ad * d[:, None, :]).sum(-1)
        b = (ad * r).sum(-1)
        c = torch.einsum("rni,nij,rnj->rn", r, prec, r)
        val = density * torch.sqrt(2 * math.pi / a) * torch.exp(-0.5 * (c - b * b / a))
        out.append(val.sum(-1))
    return torch.cat(out)


def window_accumulate(
    pos: Tensor,
    conic: Tensor,
    weight: Tensor,
    radius: Tensor,
    shape: tuple[int, ...],
    budget: int = 2_000_000,
) -> Tensor:
    """Sum of weight_i exp(-1/2 d^T conic_i d) on an integer grid, each term in a local window.

    Gaussian i contributes to the cells within r_i (Chebyshev) of its rounded centre: it is
    evaluated on a box of side min(2 r_i + 1, n) per axis that contains them and lies inside
    the grid (boxes are shifted, never cut, at the borders; the cells a shifted box adds
    beyond r_i get 0), so a sub-grid of a larger grid (a detector patch) receives exactly the
    values of the same cells of the larger grid.

    Args:
        pos: (N, D) centres in grid-index units (cell k has its centre at k).
        conic: (N, D, D) inverse covariances in grid-index units.
        weight: (N,) peak values; radius: (N,) window half-widths in cells.
        shape: grid shape (D entries); budget: max window cells evaluated per chunk.

    Returns
    -------
        flat tensor of prod(shape) values.
    """
    dim = len(shape)
    numel = math.prod(shape)
    out = pos.new_zeros(numel)
    if radius.numel() == 0:
        return out
    strides = [math.prod(shape[i + 1 :]) for i in range(dim)]
    radius = radius.clamp(1, max(shape))
    rmax = int(radius.max())
    levels = [r for r in _RADII if r < rmax]
    levels.append(next((r for r in _RADII if r >= rmax), rmax))
    lower = 0
    for r in levels:
        sel = torch.nonzero((radius > lower) & (radius <= r)).squeeze(1)
        lower = r
        if sel.numel() == 0:
            continue
        sides = [min(2 * r + 1, n) for n in shape]
        axes = [torch.arange(k, device=pos.device) for k in sides]
        offs = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, dim)
        step = max(1, budget // offs.shape[0])
        for k in range(0, sel.numel(), step):
            idx = sel[k : k + step]
            out = out.index_add(
                0,
                *_window_values(pos[idx], conic[idx], weight[idx], r, offs, shape, sides, strides),
            )
    return out


def _window_values(
    p: Tensor,
    con: Tensor,
    w: Tensor,
    r: int,
    offs: Tensor,
    shape: tuple[int, ...],
    sides: list[int],
    strides: list[int],
) -> tuple[Tensor, Tensor]:
    """Flat cell indices and values of one chunk of equal-window Gaussians.

    A box shifted at a grid border adds cells beyond r of its rounded centre; they get 0.
    The mask is built per axis on the (n, side) offsets and applied without a data-dependent
    branch, so a chunk never waits for the device (no host sync on CUDA).
    """
    dim = len(shape)
    start = torch.round(p.detach()).long() - r
    delta, flat, keep = [], 0, None
    for i in range(dim):
        s_i = start[:, i].clamp(0, shape[i] - sides[i])
        c_i = s_i[:, None] + offs[None, :, i]  # (n, K) cells along axis i
        delta.append(c_i.to(p.dtype) - p[:, i : i + 1])
        flat = flat + c_i * strides[i]
        rel = (s_i - start[:, i])[:, None] + torch.arange(sides[i], device=p.device)
        axis = [p.shape[0]] + [1] * dim
        axis[i + 1] = sides[i]
        keep_i = ((rel >= 0) & (rel <= 2 * r)).reshape(axis)  # (n, 1.., side_i, ..1)
        keep = keep_i if keep is None else keep & keep_i
    quad = 0.0
    for i in range(dim):
        quad = quad + con[:, i, i, None] * delta[i] * delta[i]
        for j in range(i + 1, dim):
            quad = quad + 2.0 * con[:, i, j, None] * delta[i] * delta[j]
    val = w[:, None] * torch.exp(-0.5 * quad.clamp_min(0.0))
    val = torch.where(keep, val.reshape(-1, *sides), 0.0)  # the cells within r only
    return flat.reshape(-1), val.reshape(-1)


def _project_gaussians(
    geo: ConeGeometry, angle: Tensor, means: Tensor, cov: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Footprint centre (u, v) (N,2), 2x2 covariance (N,2,2) and sqrt(2 pi det S'/det S'_2)."""
    src, f, e_u, e_v = (a[0] for a in view_frames(geo, angle.reshape(1)))
    w = torch.stack([e_u, e_v, f])  # world -> camera
    xc = (means - src) @ w.t()  # (N,3)
    x, y, z = xc.unbind(-1)
    z = z.clamp_min(1e-6)
    dsd = geo.DSD * geo.scale
    ell = xc.norm(dim=-1)
    zero = torch.zeros_like(z)
    jac = torch.stack(
        [
            dsd / z,
            zero,
            -dsd * x / z**2,
            zero,
            dsd / z,
            -dsd * y / z**2,
            x / ell,
            y / ell,
            z / ell,
        ],
        -1,
    ).reshape(-1, 3, 3)
    t = jac @ w
    cov_ray = t @ cov @ t.transpose(1, 2)
    cov2 = cov_ray[:, :2, :2]
    det3 = torch.det(t) ** 2 * torch.det(cov)
    det2 = cov2[:, 0, 0] * cov2[:, 1, 1] - cov2[:, 0, 1] ** 2
    factor = torch.sqrt(2 * math.pi * det3.clamp_min(1e-30) / det2.clamp_min(1e-30))
    uv = torch.stack([dsd * x / z, dsd * y / z], -1)
    return uv, cov2, factor


def _exact_view(
    geo: ConeGeometry, angle: Tensor, means: Tensor, cov: Tensor, density: Tensor, budget: int
) -> Tensor:
    """Projection (H, W) by the exact line integral of every pixel ray (chunked by `budget`)."""
    h, w = geo.nDetector
    origin, direction = pixel_rays(geo, angle.reshape(1))
    o, d = origin.reshape(-1, 3), direction.reshape(-1, 3)
    step = max(1, budget // (h * w))
    img = means.new_zeros(h * w)
    for k in range(0, means.shape[0], step):
        sl = slice(k, k + step)
        img = img + exact_line_integral(o, d, means[sl], cov[sl], density[sl], chunk=h * w)
    return img.reshape(h, w)


def splat_view(
    geo: ConeGeometry,
    angle: Tensor,
    means: Tensor,
    cov: Tensor,
    density: Tensor,
    budget: int = 2_000_000,
    exact_above: float = EXACT_ABOVE,
) -> Tensor:
    """Projection (H, W) of the Gaussian mixture at gantry angle `angle` (rad, 0-d tensor).

    Gaussians whose largest standard deviation exceeds `exact_above` (scene units) are
    integrated exactly along each pixel ray (the affine footprint's error grows with size:
    0.6 % of the peak at 0.1, 2 % at 0.3); the others are splatted.
    """
    angle = torch.as_tensor(angle).to(means)
    wide = torch.linalg.eigvalsh(cov.detach()).amax(-1) > exact_above**2
    if bool(wide.any()):
        small = torch.nonzero(~wide).squeeze(1)
        big = torch.nonzero(wide).squeeze(1)
        img = _exact_view(geo, angle, means[big], cov[big], density[big], budget)
        if small.numel() == 0:
            return img
        return img + splat_view(
            geo, angle, means[small], cov[small], density[small], budget, float("inf")
        )
    h, w = geo.nDetector
    u, v = detector_uv(geo, means.dtype, means.device)
    uv, cov2, factor = _project_gaussians(geo, angle, means, cov)
    du, dv = geo.dDetector[1] * geo.scale, geo.dDetector[0] * geo.scale
    # grid-index coordinates (row, col) = ((v - v0)/dv, (u - u0)/du)
    pos = torch.stack([(uv[:, 1] - v[0]) / dv, (uv[:, 0] - u[0]) / du], -1)
    inv = torch.tensor([1.0 / dv, 1.0 / du], dtype=means.dtype, device=means.device)
    cov_pix = cov2[:, [1, 0]][:, :, [1, 0]] * inv[None, :, None] * inv[None, None, :]
    det = cov_pix[:, 0, 0] * cov_pix[:, 1, 1] - cov_pix[:, 0, 1] ** 2
    conic = torch.stack(
        [cov_pix[:, 1, 1], -cov_pix[:, 0, 1], -cov_pix[:, 1, 0], cov_pix[:, 0, 0]], -1
    ).reshape(-1, 2, 2)
    conic = conic / det.clamp_min(1e-30)[:, None, None]
    tr = 0.5 * (cov_pix[:, 0, 0] + cov_pix[:, 1, 1])
    lam = tr + torch.sqrt((tr**2 - det).clamp_min(0))
    radius = window_radius(torch.sqrt(lam))
    margin = radius.to(pos.dtype) + 1.0
    inside = (
        (pos[:, 0] > -margin)
        & (pos[:, 0] < h - 1 + margin)
        & (pos[:, 1] > -margin)
        & (pos[:, 1] < w - 1 + margin)
    )
    keep = torch.nonzero(inside).squeeze(1)
    img = window_accumulate(
        pos[keep], conic[keep], (density * factor)[keep], radius[keep], (h, w), budget
    )
    return img.reshape(h, w)


def splat_views(
    geo: ConeGeometry,
    angles: Tensor,
    means: Tensor,
    cov: Tensor,
    density: Tensor,
    budget: int = 2_000_000,
    exact_above: float = EXACT_ABOVE,
) -> Tensor:
    """Projections (B, H, W) of one (static) mixture at several angles (B,)."""
    return torch.stack(
        [splat_view(geo, a, means, cov, density, budget, exact_above) for a in angles]
    )


def raymarch(
    geo: ConeGeometry, volume: Tensor, angles: Tensor, step_vox: float = 0.5, view_chunk: int = 4
) -> Tensor:
    """Projections (B, H, W) of a voxel volume (nx, ny, nz) indexed [x, y, z] (trilinear).

    The volume occupies the box [-h, h] (h = geo.half_extent) with voxel centres as in
    `geometry.voxel_centres`; values outside are zero. Midpoint rule with spacing
    `step_vox` voxels between the ray's entry and exit of the bounding sphere.
    """
    half = torch.tensor(geo.half_extent, dtype=volume.dtype, device=volume.device)
    vox = (2 * half / torch.tensor(geo.nVoxel, dtype=volume.dtype, device=volume.device)).min()
    ds = float(vox) * step_vox
    radius = float(half.norm()) + float(vox)
    grid_vol = volume.permute(2, 1, 0)[None, None]  # (1,1,nz,ny,nx): grid x->W, y->H, z->D
    outs = []
    for k in range(0, angles.shape[0], view_chunk):
        origin, direction = pixel_rays(geo, angles[k : k + view_chunk].to(volume.dtype))
        centre_s = -(origin * direction).sum(-1, keepdim=True)  # closest approach to 0
        n = int(math.ceil(2 * radius / ds))
        s = (torch.arange(n, dtype=volume.dtype, device=volume.device) + 0.5) * ds - radius
        pts = origin[..., None, :] + (centre_s[..., None] + s[:, None]) * direction[..., None, :]
        b, hh, ww = pts.shape[:3]
        grid = (pts / half).reshape(1, b * hh, ww * n, 1, 3).permute(0, 3, 1, 2, 4)
        samp = F.grid_sample(
            grid_vol, grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )
        outs.append(samp.reshape(b, hh, ww, n).sum(-1) * ds)
    return torch.cat(outs)
