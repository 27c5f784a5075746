"""Gaussians -> density volume (R²-Gaussian voxelizer), chunked and window-limited.

sigma(x_v) = sum_i rho_i exp(-1/2 (x_v - mu_i)^T Sigma_i^-1 (x_v - mu_i)) at voxel centres x_v;
each Gaussian only touches voxels within ~3.5 sigma (see `projector.window_accumulate`), so
memory is bounded by the chunk budget, not by N x voxels. Differentiable in all inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from physx4dct.geometry import ConeGeometry
from physx4dct.projector import window_accumulate, window_radius

__all__ = ["GridSpec", "full_grid", "random_subgrid", "total_mass", "voxelize"]


@dataclass(frozen=True)
class GridSpec:
    """A regular grid: voxel (i, j, k) has its centre at lo + (index + 0.5) * step (scene units)."""

    lo: tuple[float, float, float]
    """Lower corner of the grid box."""
    step: tuple[float, float, float]
    """Voxel size per axis."""
    shape: tuple[int, int, int]
    """Voxels per axis."""


def full_grid(geo: ConeGeometry) -> GridSpec:
    """The reconstruction grid of `geo` (voxel centres of `geometry.voxel_centres`)."""
    half = geo.half_extent
    step = tuple(2 * h / n for h, n in zip(half, geo.nVoxel))
    return GridSpec(lo=tuple(-h for h in half), step=step, shape=tuple(geo.nVoxel))


def random_subgrid(
    geo: ConeGeometry, size: int, generator: torch.Generator | None = None
) -> tuple[GridSpec, tuple[int, int, int]]:
    """A random `size`^3 block of the reconstruction grid and its start indices."""
    full = full_grid(geo)
    start = []
    for n in full.shape:
        hi = max(n - size, 0)
        start.append(int(torch.randint(0, hi + 1, (1,), generator=generator)))
    lo = tuple(a + s * d for a, s, d in zip(full.lo, start, full.step))
    shape = tuple(min(size, n) for n in full.shape)
    return GridSpec(lo=lo, step=full.step, shape=shape), tuple(start)


def voxelize(
    means: Tensor, cov: Tensor, density: Tensor, grid: GridSpec, budget: int = 4_000_000
) -> Tensor:
    """Density volume of shape `grid.shape`, indexed [x, y, z].

    Args:
        means (N,3), cov (N,3,3), density (N,): the Gaussians (scene units).
    """
    step = torch.tensor(grid.step, dtype=means.dtype, device=means.device)
    lo = torch.tensor(grid.lo, dtype=means.dtype, device=means.device)
    pos = (means - lo) / step - 0.5  # grid-index units
    scale = 1.0 / step
    cov_idx = cov * scale[None, :, None] * scale[None, None, :]
    conic = torch.linalg.inv(cov_idx)
    sigma_max = torch.linalg.eigvalsh(cov_idx.detach()).amax(-1).clamp_min(0).sqrt()
    radius = window_radius(sigma_max)
    dims = torch.tensor(grid.shape, dtype=means.dtype, device=means.device)
    margin = radius.to(means.dtype)[:, None] + 1.0
    inside = ((pos > -margin) & (pos < dims - 1 + margin)).all(-1)
    keep = torch.nonzero(inside).squeeze(1)
    flat = window_accumulate(
        pos[keep], conic[keep], density[keep], radius[keep], grid.shape, budget
    )
    return flat.reshape(grid.shape)


def total_mass(means: Tensor, cov: Tensor, density: Tensor) -> Tensor:
    """Analytic integral of the mixture: sum_i rho_i (2 pi)^{3/2} sqrt(det Sigma_i)."""
    return (density * (2 * math.pi) ** 1.5 * torch.det(cov).sqrt()).sum()
