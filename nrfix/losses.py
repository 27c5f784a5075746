"""Constraint losses on corrected data y_hat = f(x) (interior cells, punctures excised).

With w the excision mask (chi_x > chi_excision) and <q> = sum(w q) / sum(w):

- ``logscale_dynamic``: L = log <Ham^2> + lambda_M log <|Mom|^2>; the gradient of a log is
  grad/value, so each term is rescaled by its current size (dynamic balancing).
- ``uncertainty`` (Kendall, Gal & Cipolla 2018): L = e^{-s_H} <Ham^2> + s_H
  + lambda_M (e^{-s_M} <|Mom|^2> + s_M) with learned log-variances s_H, s_M.
- ``improvement``: L = <Ham_y^2>/D_H + lambda_M <|Mom_y|^2>/D_M
  + lambda_D <(y_hat - x)^2> / <x_c^2>, i.e. the improvement ratios over the input plus a
  data term that keeps y_hat close to x.
  The denominators are floored so a crop whose input is (nearly) constraint-free cannot blow
  the ratio up: D_H = max(<Ham_x^2>, f H_ref, a <Ham_abs,x^2>) and
  D_M = max(<|Mom_x|^2>, f M_ref, a <|Mom_abs,x|^2>, eps D_H), with H_ref, M_ref the global
  input scales of the training bank (``set_reference``), f = ``ratio_floor``, a = 1e-4 (Ham
  at the 1% level of its own abs terms) and eps = 1e-4.

- ``log_ratio``: L = <log(Ham_y^2 + e^2 D_H) - log(Ham_x^2 + e^2 D_H)> + lambda_M <|Mom_y|^2>/D_M
  + data term: the cell-wise log improvement of Ham (the geometric-mean reduction, which is
  what moves the median |Ham|; a squared mean is dominated by the few cells next to the
  punctures) with e = ``log_floor``, and Mom kept by its floored ratio as in ``improvement``.

Every mode adds the data term when ``data_weight > 0``.
"""

from __future__ import annotations

import torch
from torch import nn

from nrfix.config import LossConfig
from nrfix.constraints import constraints, interior

MODES = ("logscale_dynamic", "uncertainty", "improvement", "log_ratio")
_TINY = 1e-300
ABS_FLOOR = 1e-4
"""Squared fraction of the abs terms below which an input's constraint norm is floored."""


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
        # Global input scales (<Ham_x^2>, <|Mom_x|^2>) of the training data; 0 = not set.
        self.register_buffer("ref", torch.zeros(2, dtype=torch.float64), persistent=False)

    @torch.no_grad()
    def set_reference(self, bank: torch.Tensor, dx: float) -> torch.Tensor:
        """Set ``ref`` = (<Ham_x^2>, <|Mom_x|^2>) over whole grids ``bank`` (N, 25, X, Y, Z).

        Deterministic in the bank, so every rank and a resumed run get the same floor.
        """
        sums = torch.zeros(3, dtype=torch.float64)
        for x in bank.split(1):
            x = x.to(self.ref.device)
            c, w = constraints(x, dx), excision_weights(x, self.cfg.chi_excision)
            sums += torch.stack(
                [(c["Ham"] ** 2 * w).sum(), ((c["Mom"] ** 2).sum(1) * w).sum(), w.sum()]
            ).cpu()
        self.ref.copy_((sums[:2] / sums[2].clamp(min=1.0)).to(self.ref.device))
        return self.ref

    def _denominators(
        self, cx: dict[str, torch.Tensor], w: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Floored input norms (D_H, D_M) of the improvement ratios (see the module doc);
        ``cx`` are the input's constraints.
        """
        f = self.cfg.ratio_floor
        with torch.no_grad():
            ham2 = masked_mean(cx["Ham"] ** 2, w)
            ham2_abs = masked_mean(cx["Ham_abs"] ** 2, w)
            mom2 = masked_mean((cx["Mom"] ** 2).sum(1), w)
            mom2_abs = masked_mean((cx["Mom_abs"] ** 2).sum(1), w)
            d_h = torch.stack([ham2, f * self.ref[0], ABS_FLOOR * ham2_abs]).max()
            d_m = torch.stack([mom2, f * self.ref[1], ABS_FLOOR * mom2_abs, 1e-4 * d_h]).max()
        return d_h + _TINY, d_m + _TINY

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
            d_h, d_m = self._denominators(cx, w)
            if cfg.mode == "log_ratio":
                floor = cfg.log_floor**2 * d_h
                log_gain = torch.log(cy["Ham"] ** 2 + floor) - torch.log(cx["Ham"] ** 2 + floor)
                loss = masked_mean(log_gain, w) + cfg.mom_weight * mom2 / d_m
            else:
                loss = ham2 / d_h + cfg.mom_weight * mom2 / d_m
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
