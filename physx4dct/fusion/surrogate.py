"""Anchors driven by a respiratory surrogate: a motion model that few views per phase can fit.

A Gaussian with canonical centre x_i moves with its k nearest anchors (the skinning of
`physx4dct.fusion.anchors`, w_ik = softmax_k(-|x_i - a_k|^2 / T)):

    dx_i(t) = sum_k w_ik (s(t) A_k + v(t) B_k)

where s(t) is the breathing surrogate extracted from the projections
(`physx4dct.surrogate`, in [0, 1]), v(t) its time derivative (unit sd; the hysteresis
channel, off with ``surrogate_hysteresis: false``) and A_k, B_k (3-vectors per anchor) the
only motion parameters (with ``surrogate_residual`` the HexPlane field's output at absolute
time is added: dx_i(t) + dx_hex(x_i, t), and its scale and rotation changes). Every view,
whatever its breathing cycle, constrains the same A and B, whereas a field of absolute time
(HexPlane, the anchor transformer) must learn each of the ~15 cycles of a 60-s scan from the
few views taken during it. The signal is stored on a
fixed grid of normalised times (`physx4dct.surrogate.GRID`) as a buffer, so a checkpoint
carries it and the model renders any time of the scan.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from physx4dct.config import FusionConfig
from physx4dct.deformation import DeformOut
from physx4dct.fusion.anchors import AnchorBinding
from physx4dct.surrogate import GRID

__all__ = ["SurrogateField"]


class SurrogateField(AnchorBinding):
    """Surrogate-driven anchor motion; `forward(xyz, t, step) -> DeformOut`."""

    mode = "surrogate"
    uses_surrogate = True

    def __init__(
        self, cfg: FusionConfig, init_xyz: Tensor, residual: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.bind_anchors(cfg, init_xyz)
        self.residual = residual  # the HexPlane field (surrogate_residual) or None
        dtype, n_anchors = self.anchors.dtype, self.anchors.shape[0]
        self.register_buffer("surrogate", torch.zeros(2, GRID, dtype=dtype))
        self.coef = nn.Parameter(torch.zeros(n_anchors, 2, 3, dtype=dtype))
        if cfg.surrogate_refine_lr > 0:  # learned correction of s (surrogate_refine_lr)
            self.refine = nn.Parameter(torch.zeros(GRID, dtype=dtype))
        else:
            self.refine = None

    def signal_grid(self) -> Tensor:
        """(2, GRID) s (with its learned correction, if any) and ds/dt on the time grid."""
        if self.refine is None:
            return self.surrogate
        return torch.cat([(self.surrogate[0] + self.refine)[None], self.surrogate[1:]])

    @torch.no_grad()
    def set_surrogate(self, grid: np.ndarray) -> None:
        """Store the surrogate (2, GRID): s and ds/dt on the normalised time grid."""
        g = torch.as_tensor(np.asarray(grid), dtype=self.surrogate.dtype)
        if g.shape != self.surrogate.shape:
            raise ValueError(f"surrogate grid must be {tuple(self.surrogate.shape)}, got {g.shape}")
        self.surrogate.copy_(g.to(self.surrogate.device))

    def signal_at(self, times: Tensor) -> Tensor:
        """(T, 2) surrogate (s, ds/dt) at normalised times (T,) (linear interpolation)."""
        x = times.to(self.surrogate).reshape(-1).clamp(0.0, 1.0) * (GRID - 1)
        i0 = x.floor().long().clamp(max=GRID - 2)
        f = (x - i0.to(x))[:, None]
        sig = self.signal_grid().t()
        out = sig[i0] * (1 - f) + sig[i0 + 1] * f
        if not self.cfg.surrogate_hysteresis:
            out = out * out.new_tensor([1.0, 0.0])
        return out

    def displacements(self, times: Tensor) -> Tensor:
        """(T, M, 3) anchor displacements at normalised times (T,).

        With ``surrogate_centre`` the signal is taken relative to its mean over the scan (the
        stored grid is uniform in time): the Gaussians' canonical positions, fitted as a static
        volume in the coarse stage, are the time-averaged anatomy, where the motion is zero.
        """
        sig = self.signal_at(times)
        if self.cfg.surrogate_centre:
            ref = self.signal_grid().mean(1)
            if not self.cfg.surrogate_hysteresis:
                ref = ref * ref.new_tensor([1.0, 0.0])
            sig = sig - ref
        return torch.einsum("tc,mcd->tmd", sig, self.coef)

    def forward(self, xyz: Tensor, t: Tensor, step: int = 0) -> DeformOut:
        """Displacement of the Gaussians bound by `rebind` (`xyz` only sets the device)."""
        t = torch.as_tensor(t, dtype=self.coef.dtype, device=self.coef.device)
        d = self.displacements(t.reshape(-1)[:1])[0]  # (M, 3)
        dx = (d[self.knn_idx] * self.knn_w[..., None]).sum(1)
        losses = {}
        if self.cfg.lambda_anchor_smooth > 0 and self.graph.shape[1] > 0:
            lap = self.coef - self.coef[self.graph].mean(1)
            losses["anchor_smooth"] = self.cfg.lambda_anchor_smooth * lap.square().sum(-1).mean()
        stats = {"anchor_dx_rms": float(d.detach().square().sum(-1).mean().sqrt())}
        out = DeformOut(dx=dx.to(xyz), dscale=None, drot=None, losses=losses, stats=stats)
        if self.residual is None:
            return out
        res = self.residual(xyz, t, step)
        stats["residual_dx_rms"] = float(res.dx.detach().square().sum(-1).mean().sqrt())
        return DeformOut(
            dx=out.dx + res.dx,
            dscale=res.dscale,
            drot=res.drot,
            losses={**res.losses, **losses},
            stats={**res.stats, **stats},
        )

    def param_groups(self, base_lr: float) -> list[dict]:
        """The motion coefficients at ``surrogate_lr``, the signal correction at
        ``surrogate_refine_lr``; with a residual, the HexPlane groups at ``base_lr``
        (`HexPlaneField.param_groups`).
        """
        groups = [
            {"params": [self.coef], "lr": self.cfg.surrogate_lr, "name": "surrogate", "decay": True}
        ]
        if self.refine is not None:
            lr = self.cfg.surrogate_refine_lr
            groups.append({"params": [self.refine], "lr": lr, "name": "signal", "decay": True})
        return groups + (self.residual.param_groups(base_lr) if self.residual else [])
