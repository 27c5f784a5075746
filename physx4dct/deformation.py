"""HexPlane deformation field of the 4D Gaussians (4DGaussians / X²-Gaussian "DGMM").

The field maps a canonical Gaussian centre x in [-1,1]^3 and a normalised scan time t in [0,1]
to a displacement dx, an additive change of log-scales ds and of the quaternion dr:

    f(x, t) = concat_m  prod_{(i,j) in P}  bilerp(plane^m_{ij}, (p_i, p_j))          (HexPlane)
    (dx, ds, dr) = heads(MLP(f))

with p = (x, y, z, tau), tau = 2 t - 1 so that the time axis spans the whole grid (a known bug of
several forks used only half of it), P the 6 coordinate pairs (xy, xz, xt, yz, yt, zt) and m the
multi-resolution levels (spatial resolution multiplied by m, time resolution fixed). Spatial planes
start uniform in [0.1, 0.5], time planes start at 1 (a static scene at step 0), and the output
heads start at zero so the initial deformation is exactly the identity.

`DeformOut` is the interface shared with the fusion modes of `physx4dct.fusion`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from physx4dct.config import HexPlaneConfig

__all__ = ["DeformOut", "HexPlaneConfig", "HexPlaneField"]


@dataclass
class DeformOut:
    """Output of a deformation module for N Gaussians at one time."""

    dx: Tensor
    """(N, 3) displacement of the Gaussian centres, scene units ([-1,1]^3 cube)."""
    dscale: Tensor | None
    """(N, 3) additive change of the log-scales, or None."""
    drot: Tensor | None
    """(N, 4) additive change of the (unnormalised) quaternions, or None."""
    losses: dict[str, Tensor] = field(default_factory=dict)
    """Extra loss terms, already weighted; the trainer sums them."""
    stats: dict[str, float] = field(default_factory=dict)
    """Scalars to log (alpha, eps, gate mean, ...)."""


# (0,1) xy, (0,2) xz, (0,3) xt, (1,2) yz, (1,3) yt, (2,3) zt
_PAIRS = list(itertools.combinations(range(4), 2))


class HexPlaneField(nn.Module):
    """HexPlane field: `forward(xyz (N,3), t scalar or (N,1), step) -> DeformOut`."""

    def __init__(self, cfg: HexPlaneConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or HexPlaneConfig()
        self.planes = nn.ParameterList()
        for mult in cfg.multires:
            res = [cfg.resolution * mult] * 3 + [cfg.time_resolution]
            for i, j in _PAIRS:
                shape = (1, cfg.channels, res[j], res[i])  # grid_sample: x -> width (i), y -> H
                if j == 3:
                    param = torch.ones(shape)
                else:
                    param = torch.empty(shape).uniform_(0.1, 0.5)
                self.planes.append(nn.Parameter(param))
        feat_dim = cfg.channels * len(cfg.multires)
        layers: list[nn.Module] = []
        dim = feat_dim
        for _ in range(cfg.depth):
            layers += [nn.Linear(dim, cfg.hidden), nn.ReLU()]
            dim = cfg.hidden
        self.trunk = nn.Sequential(*layers)
        self.head_dx = _zero_linear(dim, 3)
        self.head_ds = _zero_linear(dim, 3) if cfg.deform_scale else None
        self.head_dr = _zero_linear(dim, 4) if cfg.deform_rotation else None

    def features(self, xyz: Tensor, t: Tensor) -> Tensor:
        """HexPlane features (N, C * levels) at canonical points `xyz` and times `t` in [0,1]."""
        n = xyz.shape[0]
        tau = (2.0 * t.to(xyz) - 1.0).reshape(-1, 1).expand(n, 1)
        p = torch.cat([xyz, tau], dim=1)  # (N, 4) in [-1,1]
        feats = []
        k = 0
        for _ in self.cfg.multires:
            prod = None
            for i, j in _PAIRS:
                grid = p[:, [i, j]].reshape(1, 1, n, 2)
                val = F.grid_sample(
                    self.planes[k], grid, mode="bilinear", padding_mode="border", align_corners=True
                )
                val = val.reshape(self.cfg.channels, n).t()
                prod = val if prod is None else prod * val
                k += 1
            feats.append(prod)
        return torch.cat(feats, dim=1)

    def forward(self, xyz: Tensor, t: Tensor, step: int = 0) -> DeformOut:
        """Deformation of the Gaussians with canonical centres `xyz` (N,3) at time `t`."""
        t = torch.as_tensor(t, dtype=xyz.dtype, device=xyz.device)
        h = self.trunk(self.features(xyz, t))
        return DeformOut(
            dx=self.head_dx(h),
            dscale=self.head_ds(h) if self.head_ds is not None else None,
            drot=self.head_dr(h) if self.head_dr is not None else None,
        )

    def param_groups(self, base_lr: float) -> list[dict]:
        """Optimizer groups: planes at `base_lr`, decoder at base_lr * decoder_lr_ratio; both
        decay over the run.
        """
        heads = [m for m in (self.head_dx, self.head_ds, self.head_dr) if m is not None]
        decoder = list(self.trunk.parameters()) + [p for m in heads for p in m.parameters()]
        return [
            {"params": list(self.planes), "lr": base_lr, "name": "hexplane_grid", "decay": True},
            {
                "params": decoder,
                "lr": base_lr * self.cfg.decoder_lr_ratio,
                "name": "hexplane_mlp",
                "decay": True,
            },
        ]

    def smoothness(self) -> dict[str, Tensor]:
        """Plane regularisers of 4DGaussians (unweighted).

        plane_tv: mean squared first difference of the spatial planes (both axes);
        time_smooth: mean squared second difference along time of the time planes;
        time_l1: mean |1 - plane| of the time planes (deviation from static).
        """
        tv = 0
        ts = tl1 = 0
        for k, param in enumerate(self.planes):
            _, j = _PAIRS[k % len(_PAIRS)]
            if j == 3:
                d2 = param[:, :, 2:] - 2 * param[:, :, 1:-1] + param[:, :, :-2]
                ts = ts + d2.square().mean()
                tl1 = tl1 + (1.0 - param).abs().mean()
            else:
                dh = param[:, :, 1:] - param[:, :, :-1]
                dw = param[:, :, :, 1:] - param[:, :, :, :-1]
                tv = tv + dh.square().mean() + dw.square().mean()
        return {"plane_tv": tv, "time_smooth": ts, "time_l1": tl1}


def _zero_linear(dim_in: int, dim_out: int) -> nn.Linear:
    """Linear layer with zero weight and bias (identity deformation at initialisation)."""
    lin = nn.Linear(dim_in, dim_out)
    nn.init.zeros_(lin.weight)
    nn.init.zeros_(lin.bias)
    return lin
