"""Radiative Gaussians (R²-Gaussian) and the 4D model of X²-Gaussian.

A Gaussian has a centre x (scene units), log-scales, a quaternion and a peak density
rho = softplus(r). The 4D model deforms the canonical Gaussians with a deformation module
(HexPlane, or a fusion of issue 6): x(t) = x + dx, log s(t) = log s + ds, q(t) = q + dq, and
learns the breathing period T = exp(tau) seconds (self-supervised respiratory motion learning).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from physx4dct.config import Config
from physx4dct.deformation import DeformOut, HexPlaneField
from physx4dct.fusion import build_deformation
from physx4dct.projector import covariance_from

__all__ = ["GaussianCloud", "Model4D", "build_model", "inverse_softplus", "rebind"]


def inverse_softplus(y: Tensor) -> Tensor:
    """X with softplus(x) = y (y > 0)."""
    return y + torch.log(-torch.expm1(-y.clamp_min(1e-8)))


class GaussianCloud(nn.Module):
    """N Gaussians; densification statistics live in buffers so they are checkpointed."""

    def __init__(self, n: int = 1) -> None:
        super().__init__()
        self.xyz = nn.Parameter(torch.zeros(n, 3))
        self.log_scale = nn.Parameter(torch.full((n, 3), -3.0))
        self.quat = nn.Parameter(torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(n, 1))
        self.density_raw = nn.Parameter(torch.zeros(n))
        self.register_buffer("grad_accum", torch.zeros(n))
        self.register_buffer("grad_count", torch.zeros(n))

    @property
    def n(self) -> int:
        """Number of Gaussians."""
        return self.xyz.shape[0]

    def density(self) -> Tensor:
        """Peak densities (N,) = softplus(r)."""
        return F.softplus(self.density_raw)

    def set_tensors(
        self, xyz: Tensor, log_scale: Tensor, quat: Tensor, density_raw: Tensor
    ) -> None:
        """Replace all Gaussians (new Parameters; statistics reset)."""
        self.xyz = nn.Parameter(xyz.detach().clone())
        self.log_scale = nn.Parameter(log_scale.detach().clone())
        self.quat = nn.Parameter(quat.detach().clone())
        self.density_raw = nn.Parameter(density_raw.detach().clone())
        self.grad_accum = torch.zeros(xyz.shape[0], dtype=xyz.dtype, device=xyz.device)
        self.grad_count = torch.zeros(xyz.shape[0], dtype=xyz.dtype, device=xyz.device)

    def resize(self, n: int) -> None:
        """Re-create parameters with N = n (before loading a checkpoint of that size)."""
        ref = self.xyz
        z = torch.zeros(n, dtype=ref.dtype, device=ref.device)
        self.set_tensors(
            z[:, None].repeat(1, 3), z[:, None].repeat(1, 3), z[:, None].repeat(1, 4), z
        )

    def params(self) -> dict[str, nn.Parameter]:
        """The four per-Gaussian parameters by name."""
        return {
            "xyz": self.xyz,
            "log_scale": self.log_scale,
            "quat": self.quat,
            "density_raw": self.density_raw,
        }


class Model4D(nn.Module):
    """Gaussians + deformation + learnable period. `deform` may be the HexPlane field itself;
    `min_scale` (scene units) floors the deformed scales.
    """

    def __init__(
        self,
        cloud: GaussianCloud,
        hexplane: HexPlaneField | None,
        deform: nn.Module | None,
        period_init_s: float,
        scan_s: float,
        min_scale: float = 0.0,
    ) -> None:
        super().__init__()
        self.min_log_scale = math.log(min_scale) if min_scale > 0 else -math.inf
        self.cloud = cloud
        self.hexplane = hexplane
        self.deform = deform if deform is not hexplane else None
        self.tau = nn.Parameter(torch.tensor(math.log(period_init_s)))
        self.register_buffer("scan_s", torch.tensor(float(scan_s)))

    @property
    def deformation(self) -> nn.Module | None:
        """The module called for dx (fusion module or the HexPlane field)."""
        return self.deform if self.deform is not None else self.hexplane

    def period_s(self) -> Tensor:
        """Learned breathing period T = exp(tau) (s)."""
        return torch.exp(self.tau)

    def gaussians_at(
        self, t: Tensor | None, step: int = 0
    ) -> tuple[Tensor, Tensor, Tensor, DeformOut | None]:
        """(means, cov, density, deform output) at normalised time t (None = canonical)."""
        c = self.cloud
        dens = c.density()
        field = self.deformation
        if t is None or field is None:
            return c.xyz, covariance_from(c.log_scale, c.quat), dens, None
        out = field(c.xyz, t, step)
        means = c.xyz + out.dx
        log_scale = c.log_scale + out.dscale if out.dscale is not None else c.log_scale
        log_scale = log_scale.clamp_min(self.min_log_scale)  # no degenerate needles
        quat = c.quat + out.drot if out.drot is not None else c.quat
        return means, covariance_from(log_scale, quat), dens, out


def build_model(
    cfg: Config,
    cloud: GaussianCloud | int,
    *,
    scan_s: float,
    voxel: float,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Model4D:
    """The model of ``cfg`` around a Gaussian cloud.

    Parameters
    ----------
    cfg : Config
        Model settings (``model``, ``hexplane``, ``fusion``, ``train.period_init_s``,
        ``gaussians.min_scale_vox``).
    cloud : GaussianCloud or int
        The initial Gaussians (`physx4dct.densify.init_cloud` draws them from an FDK volume),
        or a number of placeholder Gaussians to load a checkpoint into.
    scan_s : float
        Duration of the scan (s); model time is t / scan_s.
    voxel : float
        Voxel edge in scene units (`ConeGeometry.voxel`), the unit of the scale floor.
    device, dtype
        Where and in which precision the model lives.

    Returns
    -------
    Model4D
        Static when ``cfg.model == "static"`` (no deformation), else with the deformation
        module of ``cfg.fusion.fusion_mode``.
    """
    if isinstance(cloud, int):
        n, cloud = cloud, GaussianCloud(1)
        cloud.resize(n)
    cloud = cloud.to(device=device, dtype=dtype)
    hexplane = deform = None
    if cfg.model == "4d":
        hexplane = HexPlaneField(cfg.hexplane).to(device=device, dtype=dtype)
        deform = build_deformation(cfg.fusion, hexplane, cloud.xyz.detach())
        deform = deform.to(device=device, dtype=dtype)
        if cfg.fusion.fusion_mode == "surrogate" and not cfg.fusion.surrogate_residual:
            hexplane = None  # the surrogate model has no Eulerian branch
    model = Model4D(
        cloud,
        hexplane,
        deform,
        cfg.train.period_init_s,
        scan_s,
        min_scale=cfg.gaussians.min_scale_vox * voxel,
    )
    return model.to(device=device, dtype=dtype)


def rebind(model: Model4D) -> None:
    """Re-skin an anchor-based deformation to the current Gaussians (after densify/load)."""
    field = model.deformation
    if field is not None and hasattr(field, "rebind"):
        field.rebind(model.cloud.xyz.detach())
