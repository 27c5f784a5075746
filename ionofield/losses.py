"""Loss terms of R-STMRF, each on log10 Ne.

- Data: Gaussian negative log-likelihood 0.5 (s + (y - mu)^2 e^-s) with s = log variance
  (heteroscedastic), or plain MSE.
- Chapman smoothness: log Ne of a Chapman layer, 0.5 (1 - z - e^-z) / ln 10, has negative,
  bounded curvature. With kappa = d2 log10 Ne / dh2 [per (100 km)^2] (IRI part by finite
  differences + residual part by autograd): mean(relu(kappa)^2 + relu(-kappa - kappa_max)^2).
- TEC gradient direction: 1 - cos(grad_h log10 Ne, d), grad_h = (d/dlon / cos(lat), d/dlat),
  d the ConvLSTM direction sampled at the point (grid_sample); invariant to |grad_h|.
- Direction head: 1 - cos(d, grad_h TEC_obs) over the latest TEC map, weighted by |grad TEC|.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOGVAR_MIN, LOGVAR_MAX = -9.0, 3.0


def data_loss(
    pred: torch.Tensor, logvar: torch.Tensor, target: torch.Tensor, kind: str = "nll"
) -> torch.Tensor:
    """Gaussian NLL (``kind='nll'``) or MSE between predicted and observed log10 Ne."""
    if kind == "mse":
        return torch.mean((pred - target) ** 2)
    s = logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)
    return torch.mean(0.5 * (s + (pred - target) ** 2 * torch.exp(-s)))


def chapman_curvature_loss(
    curvature: torch.Tensor, kappa_max: float, kappa_bg: torch.Tensor | None = None
) -> torch.Tensor:
    """Penalty on log10 Ne curvature outside the Chapman range [-kappa_max, 0].

    With the IRI curvature ``kappa_bg``, the allowed range widens to include it (IRI's own
    E-F valley structure is kept; the learned residual may not add curvature violations).
    """
    upper, lower = torch.zeros_like(curvature), torch.full_like(curvature, -kappa_max)
    if kappa_bg is not None:
        upper, lower = kappa_bg.clamp_min(0.0), torch.minimum(lower, kappa_bg)
    return torch.mean(F.relu(curvature - upper) ** 2 + F.relu(lower - curvature) ** 2)


def horizontal_gradient(
    d_lat: torch.Tensor, d_lon: torch.Tensor, lat_deg: torch.Tensor
) -> torch.Tensor:
    """(east, north) components per degree of arc from d/dlat and d/dlon, shape (B, 2)."""
    coslat = torch.cos(torch.deg2rad(lat_deg)).clamp_min(0.05)
    return torch.stack([d_lon / coslat, d_lat], -1)


def direction_loss(grad_field: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """mean(1 - cos(grad_field, direction)); both (B, 2); scale-invariant in either."""
    return torch.mean(1.0 - F.cosine_similarity(grad_field, direction, dim=-1, eps=1e-12))


def map_gradient(
    tec: torch.Tensor, lat_deg: torch.Tensor, dlat: float = 2.5, dlon: float = 5.0
) -> torch.Tensor:
    """(east, north) gradient of maps (N, 71, 73) [per degree of arc] by central differences."""
    north = torch.zeros_like(tec)
    north[:, 1:-1] = (tec[:, :-2] - tec[:, 2:]) / (2 * dlat)  # rows run north -> south
    ext = torch.cat([tec[:, :, -2:-1], tec, tec[:, :, 1:2]], dim=2)  # periodic (end columns equal)
    coslat = torch.cos(torch.deg2rad(lat_deg)).clamp_min(0.05).view(1, -1, 1)
    east = (ext[:, :, 2:] - ext[:, :, :-2]) / (2 * dlon) / coslat
    return torch.stack([east, north], 1)


def head_loss(direction_maps: torch.Tensor, tec_grad: torch.Tensor) -> torch.Tensor:
    """Magnitude-weighted mean of 1 - cos(head, observed TEC gradient) over (U, 2, H, W) maps."""
    cos = F.cosine_similarity(direction_maps, tec_grad, dim=1, eps=1e-12)
    w = tec_grad.norm(dim=1)
    return torch.sum(w * (1.0 - cos)) / w.sum().clamp_min(1e-12)
