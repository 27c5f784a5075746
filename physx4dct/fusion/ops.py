"""Fusion operators and the fused deformation module of `physx4dct.fusion`.

Every mode keeps dx a weighted average of the two branches (a recorded lesson):
  fixed/learnable alpha:  dx = (1 - a) dx_hex + a dx_anchor,  a = sigmoid(logit) if learnt
  (reverse_)orthogonal:   same forward; backward of the residual branch
                          g_r <- g - s (g . b / |b|^2) b  per Gaussian, b = the base output
  uncertainty:            dx = (w_h dx_hex + w_a dx_anchor) / (w_h + w_a), w = 1/(exp(s) + e)
  uncertainty_gated:      dx = (1 - beta) dx_anchor + beta dx_hex
  bounded_perturb:        dx = (1 - eps) dx_anchor + eps H(dx_hex), eps = eps_max sigmoid(rho)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from physx4dct.config import FusionConfig
from physx4dct.deformation import DeformOut
from physx4dct.fusion.anchors import AnchorField, AnchorOut, fourier_features
from physx4dct.fusion.regularizers import decoupling_loss, distill_loss, leakage_loss

__all__ = ["EulerianLogVar", "FusedDeformation", "orthogonal_fuse", "residual_transform"]


class _OrthoFuse(torch.autograd.Function):
    """out = w_b base + w_r resid; the gradient reaching `resid` is projected, per row,
    orthogonal to the (detached) base output; `base` gets the plain gradient.
    """

    @staticmethod
    def forward(
        ctx: Any, base: Tensor, resid: Tensor, w_base: float, w_resid: float, strength: float
    ) -> Tensor:
        ctx.save_for_backward(base.detach())
        ctx.weights = (w_base, w_resid, strength)
        return w_base * base + w_resid * resid

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None, None, None]:
        (base,) = ctx.saved_tensors
        w_base, w_resid, strength = ctx.weights
        norm2 = base.square().sum(-1, keepdim=True)
        ok = norm2 > 1e-30
        coef = torch.where(ok, (grad * base).sum(-1, keepdim=True) / norm2.clamp_min(1e-30), 0.0)
        g_resid = grad - strength * coef * base
        return w_base * grad, w_resid * g_resid, None, None, None


def orthogonal_fuse(
    base: Tensor, resid: Tensor, w_base: float, w_resid: float, strength: float = 1.0
) -> Tensor:
    """(N,3) weighted sum whose residual-branch gradient is orthogonal to `base` per row."""
    return _OrthoFuse.apply(base, resid, w_base, w_resid, strength)


def residual_transform(delta: Tensor, mode: str, norm_eps: float = 1e-6) -> Tensor:
    """H(delta) of bounded_perturb, per Gaussian row (N,3).

    identity: delta; tanh: tanh(delta) (destroys magnitudes: -5.5 dB in the seed);
    rmsnorm: delta / sqrt(mean_c delta_c^2 + e); unitnorm: delta / sqrt(|delta|^2 + e).
    """
    if mode == "identity":
        return delta
    if mode == "tanh":
        return torch.tanh(delta)
    if mode == "rmsnorm":
        return delta * torch.rsqrt(delta.square().mean(-1, keepdim=True) + norm_eps)
    if mode == "unitnorm":
        return delta * torch.rsqrt(delta.square().sum(-1, keepdim=True) + norm_eps)
    raise ValueError(f"unknown residual mode {mode!r}")


class EulerianLogVar(nn.Module):
    """Log-variance head s_E(x, t) of the Eulerian branch: MLP on Fourier features of (x, t).

    The last layer starts at zero weight and bias `init`, so s_E = init everywhere at step 0.
    """

    def __init__(self, hidden: int, init: float, n_freq: int = 4) -> None:
        super().__init__()
        self.n_freq = n_freq
        self.mlp = nn.Sequential(nn.Linear(4 * 2 * n_freq, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.constant_(self.mlp[-1].bias, init)

    def forward(self, xyz: Tensor, t: Tensor) -> Tensor:
        """(N,3) points, scalar or (N,1) time -> (N,1) log-variance."""
        tt = torch.as_tensor(t, dtype=xyz.dtype, device=xyz.device).reshape(-1, 1)
        p = torch.cat([xyz.detach(), tt.expand(xyz.shape[0], 1)], dim=1)
        return self.mlp(fourier_features(p, self.n_freq))


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


class FusedDeformation(nn.Module):
    """HexPlane x anchor fusion: `forward(xyz, t, step) -> DeformOut` for cfg.fusion_mode."""

    def __init__(self, cfg: FusionConfig, hexplane: nn.Module, init_xyz: Tensor) -> None:
        super().__init__()
        self.cfg = cfg
        self.mode = cfg.fusion_mode
        self.hexplane = hexplane
        self.anchor = AnchorField(cfg, init_xyz, with_logvar=self.mode == "uncertainty")
        self.euler = (
            EulerianLogVar(cfg.eulerian_hidden_dim, cfg.uncertainty_init)
            if self.mode in ("uncertainty", "uncertainty_gated")
            else None
        )
        if self.mode == "learnable_alpha":
            self.alpha_logit = nn.Parameter(torch.tensor(_logit(cfg.alpha_init)))
        if self.mode == "bounded_perturb":
            self.rho = nn.Parameter(torch.tensor(_logit(cfg.eps_init / cfg.eps_max)))
        # largest training step seen: evaluation calls (step 0) use the trained schedule
        self.register_buffer("seen_step", torch.tensor(0, dtype=torch.long))
        self.to(init_xyz.device)

    # ------------------------------------------------------------ trainer hooks
    def rebind(self, xyz: Tensor) -> None:
        """Re-skin the Gaussians to the anchors after densify/prune."""
        self.anchor.rebind(xyz)

    def param_groups(self, base_lr: float) -> list[dict]:
        """Optimizer groups: HexPlane (its own groups if it has them), anchors, scalars; the
        networks decay over the run, the fusion scalars (alpha, rho) do not.
        """
        hp = self.hexplane
        if hasattr(hp, "param_groups"):
            groups = list(hp.param_groups(base_lr))
        else:
            groups = [
                {"params": list(hp.parameters()), "lr": base_lr, "name": "hexplane", "decay": True}
            ]
        groups += self.anchor.param_groups(base_lr)
        if self.euler is not None:
            groups.append(
                {
                    "params": list(self.euler.parameters()),
                    "lr": base_lr,
                    "name": "eulerian_logvar",
                    "decay": True,
                }
            )
        if self.mode == "learnable_alpha":
            groups.append({"params": [self.alpha_logit], "lr": self.cfg.alpha_lr, "name": "alpha"})
        if self.mode == "bounded_perturb":
            groups.append({"params": [self.rho], "lr": self.cfg.rho_lr, "name": "rho"})
        return groups

    # ------------------------------------------------------------ forward
    def forward(self, xyz: Tensor, t: Tensor, step: int = 0) -> DeformOut:
        """Fused deformation of the N Gaussians with canonical centres xyz (N,3) at time t."""
        cfg, mode = self.cfg, self.mode
        learning = self.training and torch.is_grad_enabled()
        if learning:
            self.seen_step.fill_(max(int(self.seen_step), int(step)))
        else:
            step = max(int(step), int(self.seen_step))
        losses: dict[str, Tensor] = {}
        stats: dict[str, float] = {}
        pure_hex = mode == "fixed_alpha" and cfg.alpha == 0.0
        pure_anchor = mode == "anchor" or (mode == "fixed_alpha" and cfg.alpha == 1.0)
        anc = None if pure_hex else self.anchor(xyz, t, step)
        hx = None if pure_anchor else self.hexplane(xyz, t, step)
        for part in (anc, hx):
            if part is not None:
                losses.update(part.losses)
                stats.update(part.stats)
        if pure_hex:
            dx, w_hex = hx.dx, 1.0
        elif pure_anchor:
            dx, w_hex = anc.dx, 0.0
        else:
            stats["hex_dx_rms"] = float(hx.dx.detach().square().mean().sqrt())
            dx, w_hex = self._combine(xyz, t, step, hx.dx, anc, losses, stats)
            if learning:
                losses.update(leakage_loss(cfg, xyz, hx.dx, step))
                losses.update(decoupling_loss(self, xyz, t, step))
                losses.update(distill_loss(cfg, hx.dx, anc.dx))
        ds, dr = self._scale_rot(hx, w_hex)
        return DeformOut(dx=dx, dscale=ds, drot=dr, losses=losses, stats=stats)

    def _combine(
        self,
        xyz: Tensor,
        t: Tensor,
        step: int,
        dx_hex: Tensor,
        anc: AnchorOut,
        losses: dict[str, Tensor],
        stats: dict[str, float],
    ) -> tuple[Tensor, float | Tensor]:
        """Dx and the HexPlane weight (float or (N,1)) of the fused modes."""
        cfg, mode, dx_anc = self.cfg, self.mode, anc.dx
        if mode == "fixed_alpha":
            a = cfg.alpha
            stats["alpha"] = a
            return (1.0 - a) * dx_hex + a * dx_anc, 1.0 - a
        if mode == "learnable_alpha":
            a = torch.sigmoid(self.alpha_logit)
            stats["alpha"] = float(a.detach())
            if cfg.lambda_balance > 0:
                losses["balance"] = cfg.lambda_balance * (a - 0.5).square()
            return (1.0 - a) * dx_hex + a * dx_anc, 1.0 - a
        if mode in ("orthogonal", "reverse_orthogonal"):
            a = cfg.alpha
            stats["alpha"] = a
            if mode == "orthogonal":  # HexPlane is the base, anchors learn the residual
                return orthogonal_fuse(dx_hex, dx_anc, 1.0 - a, a, cfg.ortho_strength), 1.0 - a
            return orthogonal_fuse(dx_anc, dx_hex, a, 1.0 - a, cfg.ortho_strength), 1.0 - a
        if mode == "uncertainty":
            return self._uncertainty(xyz, t, dx_hex, anc, losses, stats)
        if mode == "uncertainty_gated":
            return self._gated(xyz, t, dx_hex, dx_anc, losses, stats)
        if mode == "bounded_perturb":
            eps = self.epsilon(step)
            stats["eps"] = float(eps.detach())
            h = residual_transform(dx_hex, cfg.residual_mode, cfg.norm_eps)
            return (1.0 - eps) * dx_anc + eps * h, eps
        raise ValueError(f"unknown fusion mode {mode!r}")

    def epsilon(self, step: int) -> Tensor:
        """Eps = eps_max sigmoid(rho); rho is detached before eps_freeze_steps (freeze_rho),
        eps is capped at eps_max min(1, step / eps_warmup_steps) (warmup_cap).
        """
        cfg = self.cfg
        rho = self.rho
        if cfg.schedule_mode == "freeze_rho" and step < cfg.eps_freeze_steps:
            rho = rho.detach()
        eps = cfg.eps_max * torch.sigmoid(rho)
        if cfg.schedule_mode == "warmup_cap":
            cap = cfg.eps_max * min(1.0, step / max(cfg.eps_warmup_steps, 1))
            eps = torch.clamp(eps, max=cap)
        return eps

    def _uncertainty(
        self,
        xyz: Tensor,
        t: Tensor,
        dx_hex: Tensor,
        anc: AnchorOut,
        losses: dict[str, Tensor],
        stats: dict[str, float],
    ) -> tuple[Tensor, Tensor]:
        """Inverse-variance weighting and the Kendall NLL of the branch disagreement."""
        cfg = self.cfg
        s_h, s_a = self.euler(xyz, t), anc.logvar
        w_h = 1.0 / (torch.exp(s_h) + cfg.uncertainty_eps)
        w_a = 1.0 / (torch.exp(s_a) + cfg.uncertainty_eps)
        w_hex = w_h / (w_h + w_a)
        dx = w_hex * dx_hex + (1.0 - w_hex) * anc.dx
        if self.training and torch.is_grad_enabled() and cfg.lambda_uncertainty > 0:
            big_s = torch.exp(s_h) + torch.exp(s_a)
            gap2 = (dx_hex - anc.dx).detach().square().sum(-1, keepdim=True)
            nll = 0.5 * gap2 / big_s + 0.5 * torch.log(big_s)
            losses["kendall"] = cfg.lambda_uncertainty * nll.mean()
        stats["w_hex_mean"] = float(w_hex.detach().mean())
        stats["s_hex_mean"] = float(s_h.detach().mean())
        stats["s_anchor_mean"] = float(s_a.detach().mean())
        return dx, w_hex

    def gate(self, xyz: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Beta (N,1) of uncertainty_gated and the Eulerian log-variance s_E (N,1).

        gamma_max > 0: beta = (1 - alpha) + gamma_max tanh((gamma_tau - s_E) / lambda);
        else bayes: beta = s_L^2 / (s_L^2 + exp(s_E)), sigmoid: sigmoid((tau - s_E) / lambda);
        clamped to [beta_min, beta_max].
        """
        cfg = self.cfg
        s_e = self.euler(xyz, t)
        if cfg.gamma_max > 0:
            gamma = cfg.gamma_max * torch.tanh((cfg.gamma_tau - s_e) / cfg.gate_lambda)
            beta = (1.0 - cfg.alpha) + gamma
        elif cfg.gate_mode == "bayes":
            beta = cfg.sigma_L2 / (cfg.sigma_L2 + torch.exp(s_e))
        else:
            beta = torch.sigmoid((cfg.gate_tau - s_e) / cfg.gate_lambda)
        return beta.clamp(cfg.beta_min, cfg.beta_max), s_e

    def _gated(
        self,
        xyz: Tensor,
        t: Tensor,
        dx_hex: Tensor,
        dx_anc: Tensor,
        losses: dict[str, Tensor],
        stats: dict[str, float],
    ) -> tuple[Tensor, Tensor]:
        """Weighted average (1 - beta) dx_anchor + beta dx_hex with the gate sparsity loss."""
        beta, s_e = self.gate(xyz, t)
        if self.training and torch.is_grad_enabled() and self.cfg.lambda_gate > 0:
            losses["gate"] = self.cfg.lambda_gate * beta.abs().mean()
        b = beta.detach()
        stats.update(
            beta_mean=float(b.mean()),
            beta_std=float(b.std()) if b.numel() > 1 else 0.0,
            s_E_mean=float(s_e.detach().mean()),
        )
        return (1.0 - beta) * dx_anc + beta * dx_hex, beta

    def _scale_rot(
        self, hx: DeformOut | None, w_hex: float | Tensor
    ) -> tuple[Tensor | None, Tensor | None]:
        """HexPlane log-scale/quaternion changes under the hex_scale_rot policy."""
        if hx is None or self.cfg.hex_scale_rot == "none":
            return None, None
        if self.cfg.hex_scale_rot == "full" or (isinstance(w_hex, float) and w_hex == 1.0):
            return hx.dscale, hx.drot
        ds = w_hex * hx.dscale if hx.dscale is not None else None
        dr = w_hex * hx.drot if hx.drot is not None else None
        return ds, dr
