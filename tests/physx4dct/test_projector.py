"""Physics checks of the X-ray projectors: splatting vs exact line integrals vs ray marching."""

from __future__ import annotations

import math

import pytest
import torch

from physx4dct.geometry import ConeGeometry, pixel_rays, voxel_centres
from physx4dct.projector import (
    covariance_from,
    exact_line_integral,
    raymarch,
    splat_view,
    splat_views,
    window_accumulate,
)
from physx4dct.voxelizer import full_grid, random_subgrid, total_mass, voxelize

GEO = ConeGeometry(
    nDetector=(32, 32), dDetector=(16.0, 16.0), nVoxel=(32, 32, 32), dVoxel=(10.0, 10.0, 10.0)
)


def _mixture(n: int, seed: int = 0, smin: float = 0.04, srange: float = 0.08):
    g = torch.Generator().manual_seed(seed)
    means = (torch.rand(n, 3, generator=g) * 1.2 - 0.6).double()
    log_scale = torch.log(torch.rand(n, 3, generator=g) * srange + smin).double()
    quat = torch.randn(n, 4, generator=g).double()
    density = (torch.rand(n, generator=g) + 0.5).double()
    return means, log_scale, quat, density


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_geometry_central_ray_and_detector_distance():
    origin, direction = pixel_rays(GEO, torch.tensor([0.7]))
    # pixels straddle the centre: the mean of the 4 central rays passes through the origin
    d = direction[0, 15:17, 15:17].reshape(-1, 3).mean(0)
    o = origin[0, 0, 0]
    closest = o - (o @ d) / (d @ d) * d
    assert closest.norm() < 1e-5
    assert math.isclose(float(o.norm()), GEO.DSO * GEO.scale, rel_tol=1e-6)


def test_geometry_dict_round_trip_and_validation():
    assert ConeGeometry.from_dict(GEO.to_dict()) == GEO
    with pytest.raises(ValueError, match="DSD > DSO"):
        ConeGeometry(DSD=500.0, DSO=1000.0).validate()
    with pytest.raises(ValueError, match="reaches the source"):
        ConeGeometry(DSO=100.0, DSD=200.0).validate()


def test_exact_line_integral_matches_quadrature():
    means, log_scale, quat, density = _mixture(3, seed=1)
    cov = covariance_from(log_scale, quat)
    o = torch.tensor([[3.0, 0.1, -0.2]], dtype=torch.float64)
    d = torch.tensor([[-1.0, 0.05, 0.1]], dtype=torch.float64)
    d = d / d.norm()
    s = torch.linspace(0, 6, 60001, dtype=torch.float64)
    pts = o + s[:, None] * d
    diff = pts[:, None, :] - means[None]
    quad = torch.einsum("sni,nij,snj->sn", diff, torch.linalg.inv(cov), diff)
    sigma = (density * torch.exp(-0.5 * quad)).sum(-1)
    ref = torch.trapezoid(sigma, s)
    val = exact_line_integral(o, d, means, cov, density)
    assert float(ref) > 0.01
    assert abs(float(val) - float(ref)) < 1e-6 * float(ref) + 1e-9


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_splat_matches_exact_line_integral(dtype):
    means, log_scale, quat, density = (t.to(dtype) for t in _mixture(40))
    cov = covariance_from(log_scale, quat)
    angles = torch.tensor([0.3, 2.0, 4.4], dtype=dtype)
    img = splat_views(GEO, angles, means, cov, density)
    origin, direction = pixel_rays(GEO, angles)
    ref = exact_line_integral(
        origin.reshape(-1, 3), direction.reshape(-1, 3), means, cov, density
    ).reshape(img.shape)
    assert _rel(img, ref) < 0.02
    assert float((img - ref).abs().max()) < 0.02 * float(ref.max())


def test_splat_matches_raymarched_voxelization():
    means, log_scale, quat, density = _mixture(25, seed=2, smin=0.06)
    cov = covariance_from(log_scale, quat)
    fine = ConeGeometry(
        nDetector=GEO.nDetector,
        dDetector=GEO.dDetector,
        nVoxel=(80, 80, 80),
        dVoxel=(4.0, 4.0, 4.0),
    )
    vol = voxelize(means, cov, density, full_grid(fine))
    angles = torch.tensor([0.0, 1.1], dtype=torch.float64)
    ray = raymarch(fine, vol, angles)
    img = splat_views(fine, angles, means, cov, density)
    assert _rel(img, ray) < 0.02


def test_voxelizer_mass_and_point_values():
    means, log_scale, quat, density = _mixture(10, seed=3)
    cov = covariance_from(log_scale, quat)
    grid = full_grid(GEO)
    vol = voxelize(means, cov, density, grid)
    voxel = math.prod(grid.step)
    assert math.isclose(
        float(vol.sum() * voxel), float(total_mass(means, cov, density)), rel_tol=1e-3
    )
    xyz = voxel_centres(GEO, torch.float64)
    diff = xyz.reshape(-1, 1, 3) - means[None]
    quad = torch.einsum("vni,nij,vnj->vn", diff, torch.linalg.inv(cov), diff)
    dense = (density * torch.exp(-0.5 * quad)).sum(-1).reshape(vol.shape)
    assert float((vol - dense).abs().max()) < 1e-2 * float(dense.max())
    sub, start = random_subgrid(GEO, 8, torch.Generator().manual_seed(0))
    part = voxelize(means, cov, density, sub)
    block = vol[start[0] : start[0] + 8, start[1] : start[1] + 8, start[2] : start[2] + 8]
    assert float((part - block).abs().max()) < 3e-3 * float(block.max())


@pytest.mark.parametrize("shape", [(13, 17), (9, 11, 7)])
def test_window_accumulate_equals_the_dense_sum_over_each_window(shape):
    """Each Gaussian adds exactly to the cells within r_i (Chebyshev) of its rounded centre,
    also when its box is shifted at a border or is wider than the grid (several chunks)."""
    g = torch.Generator().manual_seed(7)
    n, dim = 60, len(shape)
    dims = torch.tensor(shape, dtype=torch.float64)
    pos = torch.rand(n, dim, generator=g, dtype=torch.float64) * (dims + 6) - 3
    a = torch.randn(n, dim, dim, generator=g, dtype=torch.float64)
    conic = a @ a.transpose(1, 2) / 4 + 0.05 * torch.eye(dim, dtype=torch.float64)
    weight = torch.rand(n, generator=g, dtype=torch.float64) + 0.5
    radius = torch.tensor([1, 2, 3, 5, 8, 12, 16])[torch.randint(0, 7, (n,), generator=g)]
    out = window_accumulate(pos, conic, weight, radius, shape, budget=500)
    cells = torch.stack(
        torch.meshgrid(*(torch.arange(k) for k in shape), indexing="ij"), -1
    ).reshape(-1, dim)
    d = cells[None].double() - pos[:, None]  # (n, cells, dim)
    quad = torch.einsum("nci,nij,ncj->nc", d, conic, d).clamp_min(0)
    r = radius.clamp(max=max(shape))
    near = (cells[None] - torch.round(pos).long()[:, None]).abs().amax(-1) <= r[:, None]
    dense = (weight[:, None] * torch.exp(-0.5 * quad) * near).sum(0)
    assert bool((near.sum(1) < (2 * r + 1) ** dim).any())  # some boxes are cut by the border
    torch.testing.assert_close(out, dense, rtol=1e-12, atol=1e-12)


def test_raymarch_uniform_ball_chord_lengths():
    geo = ConeGeometry(
        nDetector=(16, 16), dDetector=(24.0, 24.0), nVoxel=(64, 64, 64), dVoxel=(5.0, 5.0, 5.0)
    )
    xyz = voxel_centres(geo, torch.float64)
    ball = (xyz.norm(dim=-1) < 0.6).double()
    proj = raymarch(geo, ball, torch.tensor([0.4], dtype=torch.float64))[0]
    origin, direction = pixel_rays(geo, torch.tensor([0.4], dtype=torch.float64))
    o, d = origin[0], direction[0]
    b = (o * d).sum(-1)
    disc = (b**2 - (o * o).sum(-1) + 0.36).clamp_min(0)
    chord = 2 * disc.sqrt()
    assert float((proj - chord).abs().mean()) < 0.02 * float(chord.max())


def test_splat_gradients_match_finite_differences():
    geo = ConeGeometry(
        nDetector=(10, 10), dDetector=(40.0, 40.0), nVoxel=(16, 16, 16), dVoxel=(20.0, 20.0, 20.0)
    )
    means, log_scale, quat, density = _mixture(3, seed=4, smin=0.12)
    weights = torch.rand(10, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(1))

    def f(m, ls, q, rho):
        return (
            splat_view(geo, torch.tensor(0.9, dtype=torch.float64), m, covariance_from(ls, q), rho)
            * weights
        ).sum()

    inputs = tuple(t.clone().requires_grad_() for t in (means, log_scale, quat, density))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_voxelizer_gradients_match_finite_differences():
    means, log_scale, quat, density = _mixture(2, seed=5, smin=0.15)
    grid = full_grid(ConeGeometry(nVoxel=(8, 8, 8), dVoxel=(40.0, 40.0, 40.0)))

    def f(m, ls, q, rho):
        return voxelize(m, covariance_from(ls, q), rho, grid).square().sum()

    inputs = tuple(t.clone().requires_grad_() for t in (means, log_scale, quat, density))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)
