"""Regularisers of the Eulerian (HexPlane) residual in the fused modes.

Low-frequency leakage (keeps the Eulerian branch from explaining the global motion):
    knn_mean:        L_LP = lambda mean_i | mean_{j in N_k(i)} D_j |^2
                     (penalises the smooth, low-frequency part of D = dx_hex)
    graph_laplacian: L_LP = lambda mean_i | D_i - mean_{j in N_k(i)} D_j |^2
                     (the graph Laplacian of D: penalises its roughness instead)
Subspace decoupling (discourages the Eulerian response from aligning with the Lagrangian):
    velocity_corr:            cos(v_E, v_L), v = (f(x, t+dt) - f(x, t-dt)) / 2 dt
    stochastic_jacobian_corr: cos(J_E u, J_L u), J u = (f(x + h u) - f(x - h u)) / 2 h,
                              u a random unit direction
    L_dec = lambda mean cos^2 (or |cos|), the Lagrangian side detached by default.
Neighbourhoods and directions are drawn per step from `common.seeding.generator_for`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from physx4dct.config import FusionConfig

__all__ = ["decoupling_loss", "distill_loss", "knn_indices", "leakage_loss", "subsample"]


def subsample(n: int, m: int, seed: int, step: int, device: torch.device | str) -> Tensor:
    """Indices of min(m, n) distinct points drawn for `step` (all points if m <= 0)."""
    from common.seeding import generator_for

    if m <= 0 or m >= n:
        return torch.arange(n, device=device)
    perm = torch.randperm(n, generator=generator_for(seed, step=step))
    return perm[:m].to(device)


@torch.no_grad()
def knn_indices(points: Tensor, k: int) -> Tensor:
    """(P, k) indices of each point's k nearest other points."""
    k = min(k, points.shape[0] - 1)
    d = torch.cdist(points, points)
    d.fill_diagonal_(float("inf"))
    return torch.topk(d, k, dim=1, largest=False).indices


def leakage_loss(cfg: FusionConfig, xyz: Tensor, dx_hex: Tensor, step: int) -> dict[str, Tensor]:
    """{"lp": L_LP} of the HexPlane displacement dx_hex (N,3) at centres xyz (N,3)."""
    if not cfg.lp_enable or cfg.lambda_lp <= 0 or xyz.shape[0] < 2:
        return {}
    sub = subsample(xyz.shape[0], cfg.lp_subsample, cfg.mask_seed + 101, step, xyz.device)
    nbr = knn_indices(xyz[sub].detach(), cfg.lp_k)
    d = dx_hex[sub]
    mean_nb = d[nbr].mean(1)
    lp = mean_nb if cfg.lp_mode == "knn_mean" else d - mean_nb
    return {"lp": cfg.lambda_lp * lp.square().sum(-1).mean()}


def distill_loss(cfg: FusionConfig, dx_hex: Tensor, dx_anchor: Tensor) -> dict[str, Tensor]:
    """{"distill": lambda mean_i |dx_anchor - sg(dx_hex)|^2}: the HexPlane displacement of every
    Gaussian (detached) is a direct target of the anchor branch; the HexPlane gets no gradient.
    """
    if cfg.lambda_distill <= 0:
        return {}
    gap = dx_anchor - dx_hex.detach()
    return {"distill": cfg.lambda_distill * gap.square().sum(-1).mean()}


def _cos_penalty(a: Tensor, b: Tensor, squared: bool) -> Tensor:
    """Mean over rows of cos^2 (or |cos|) between a and b (P,3)."""
    cos = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1) + 1e-12)
    return cos.square().mean() if squared else cos.abs().mean()


def decoupling_loss(fused: nn.Module, xyz: Tensor, t: Tensor, step: int) -> dict[str, Tensor]:
    """{"decouple": L_dec} for a FusedDeformation `fused` (needs .hexplane and .anchor)."""
    cfg = fused.cfg
    if not cfg.decouple_enable or cfg.lambda_decouple <= 0:
        return {}
    sub = subsample(xyz.shape[0], cfg.decouple_subsample, cfg.mask_seed + 202, step, xyz.device)
    pts = xyz[sub].detach()
    t0 = torch.as_tensor(t, dtype=xyz.dtype, device=xyz.device).reshape(-1)[0]

    def hex_at(p: Tensor, tt: Tensor) -> Tensor:
        return fused.hexplane(p, tt, step).dx

    def lag_at(p: Tensor, tt: Tensor) -> Tensor:
        out = fused.anchor.query(p, tt)
        return out.detach() if cfg.decouple_stopgrad_L else out

    if cfg.decouple_mode == "velocity_corr":
        dt = cfg.decouple_dt
        v_e = (hex_at(pts, t0 + dt) - hex_at(pts, t0 - dt)) / (2 * dt)
        v_l = (lag_at(pts, t0 + dt) - lag_at(pts, t0 - dt)) / (2 * dt)
        loss = _cos_penalty(v_e, v_l, cfg.decouple_use_squared_cos)
    else:
        from common.seeding import generator_for

        gen = generator_for(cfg.mask_seed + 303, step=step)
        h, terms = cfg.decouple_fd_h, []
        for _ in range(max(cfg.decouple_num_dirs, 1)):
            u = torch.randn(pts.shape, generator=gen).to(pts)
            u = u / u.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            je = (hex_at(pts + h * u, t0) - hex_at(pts - h * u, t0)) / (2 * h)
            jl = (lag_at(pts + h * u, t0) - lag_at(pts - h * u, t0)) / (2 * h)
            terms.append(_cos_penalty(je, jl, cfg.decouple_use_squared_cos))
        loss = torch.stack(terms).mean()
    return {"decouple": cfg.lambda_decouple * loss}
