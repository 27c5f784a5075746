"""Constraint losses on corrected data y_hat = f(x) (interior cells, punctures excised).

With w the excision mask (chi_x > chi_excision) and <q> = sum(w q) / sum(w):

- ``logscale_dynamic``: L = log <Ham^2> + lambda_M log <|Mom|^2>; the gradient of a log is
  grad/value, so each term is rescaled by its current size (dynamic balancing).
- ``uncertainty`` (Kendall, Gal & Cipolla 2018): L = e^{-s_H} <Ham^2> + s_H
  + lambda_M (e^{-s_M} <|Mom|^2> + s_M) with learned log-variances s_H, s_M.
- ``improvement``: L = <Ham_y^2>/<Ham_x^2> + lambda_M <|Mom_y|^2>/(<|Mom_x|^2> + eps <Ham_x^2>)
  + lambda_D <(y_hat - x)^2> / <x_c^2>, i.e. the improvement ratios over the input plus a data
  term that keeps y_hat close to x (eps = 1e-4 keeps the Mom ratio finite for Mom-free input).

Every mode adds the data term when ``data_weight > 0``.
"""

from __future__ import annotations

import torch
from torch import nn

from nrfix.config import LossConfig
from nrfix.constraints import constraints, interior

MODES = ("logscale_dynamic", "uncertainty", "improvement")
_TINY = 1e-300


def excision_weights(x: torch.Tensor, threshold: float) -> torch.Tensor:
    """(B, X-4, Y-4, Z-4) float mask: 1 where chi_x > threshold (outside the punctures)."""
    return (interior(x[:, 0]) > threshold).to(x.dtype)


def masked_mean(q: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Volume-weighted mean <q> over cells with weight w (uniform grid: dV cancels)."""
    return (q * w).sum() / torch.clamp(w.sum(), min=1.0)


class ConstraintLoss(nn.Module):
    """Loss of corrected data; holds the learned log-variances of the ``uncertainty`` mode."""

    def __init__(self, cfg: LossConfig) -> None:
        super().__init__()
        if cfg.mode not in MODES:
            raise ValueError(f"unknown loss mode {cfg.mode!r}; choose from {', '.join(MODES)}")
        self.cfg = cfg
        self.log_var = nn.Parameter(torch.zeros(2, dtype=torch.float64))

    def forward(
        self, x: torch.Tensor, y: torch.Tensor, dx: float, var_mask: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """x, y: (B, 25, D, H, W); var_mask (1, 25, 1, 1, 1) marks corrected variables."""
        cfg = self.cfg
        w = excision_weights(x, cfg.chi_excision)
        cy = constraints(y, dx)
        ham2 = masked_mean(cy["Ham"] ** 2, w)
        mom2 = masked_mean((cy["Mom"] ** 2).sum(1), w)
        diff = ((y - x) ** 2 * var_mask).mean()
        if cfg.mode == "logscale_dynamic":
            loss = torch.log(ham2 + _TINY) + cfg.mom_weight * torch.log(mom2 + _TINY)
        elif cfg.mode == "uncertainty":
            s = self.log_var
            loss = (
                torch.exp(-s[0]) * ham2 + s[0] + cfg.mom_weight * (torch.exp(-s[1]) * mom2 + s[1])
            )
        else:
            with torch.no_grad():
                cx = constraints(x, dx)
                ham2_x = masked_mean(cx["Ham"] ** 2, w)
                mom2_x = masked_mean((cx["Mom"] ** 2).sum(1), w)
            loss = ham2 / (ham2_x + _TINY) + cfg.mom_weight * mom2 / (
                mom2_x + 1e-4 * ham2_x + _TINY
            )
        if cfg.data_weight > 0:
            scale = ((x * var_mask) ** 2).mean().detach() + _TINY
            loss = loss + cfg.data_weight * diff / scale
        metrics = {
            "loss": float(loss.detach()),
            "ham_rms": float(ham2.detach().sqrt()),
            "mom_rms": float(mom2.detach().sqrt()),
            "dx_rms": float(diff.detach().sqrt()),
        }
        return loss, metrics
