"""Column physics: Chapman layers, vertical TEC integration, local time.

- Chapman layer (alpha-Chapman): Ne(h) = Nm exp(0.5 (1 - z - e^-z)), z = (h - hm)/H.
- Its vertical TEC: integral Ne dh = Nm H sqrt(2 pi e) (all heights).
- TEC [TECU] = sum Ne [m^-3] dh [km] 1e3 / 1e16 = sum Ne dh[km] 1e-13.
- Local time LT = (UT + lon/15) mod 24 [h].
"""

from __future__ import annotations

import math

import numpy as np
import torch

TECU_M2 = 1.0e16
SQRT_2PI_E = math.sqrt(2.0 * math.pi * math.e)


def chapman_ne(
    alt_km: np.ndarray, nm_m3: np.ndarray, hm_km: np.ndarray, scale_km: np.ndarray
) -> np.ndarray:
    """Chapman profile Ne [m^-3] at ``alt_km`` (broadcasting arrays)."""
    z = (np.asarray(alt_km) - hm_km) / scale_km
    return nm_m3 * np.exp(0.5 * (1.0 - z - np.exp(-np.clip(z, -50.0, None))))


def chapman_log_ne(
    alt_km: torch.Tensor, log10_nm: torch.Tensor, hm_km: float, scale_km: float
) -> torch.Tensor:
    """log10 of a Chapman profile (torch), differentiable in ``alt_km``."""
    z = (alt_km - hm_km) / scale_km
    return log10_nm + 0.5 * (1.0 - z - torch.exp(-z)) / math.log(10.0)


def chapman_tec_tecu(nm_m3: np.ndarray | float, scale_km: np.ndarray | float) -> np.ndarray | float:
    """Closed-form TEC of a Chapman layer: Nm H sqrt(2 pi e), in TECU (H in km)."""
    return nm_m3 * scale_km * 1.0e3 * SQRT_2PI_E / TECU_M2


def integrate_tec_tecu(ne_m3: np.ndarray, alt_km: np.ndarray, axis: int = -1) -> np.ndarray:
    """Vertical TEC [TECU] by the trapezoid rule over ``alt_km`` along ``axis`` of ``ne_m3``."""
    return np.trapezoid(ne_m3, x=np.asarray(alt_km, float), axis=axis) * 1.0e-13


def integrate_tec_torch(ne_m3: torch.Tensor, alt_km: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Torch twin of :func:`integrate_tec_tecu` (differentiable)."""
    return torch.trapezoid(ne_m3, x=alt_km, dim=dim) * 1.0e-13


def local_time_h(ut_h: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Local (solar mean) time in hours, (UT + lon/15) mod 24."""
    return np.mod(np.asarray(ut_h) + np.asarray(lon_deg) / 15.0, 24.0)


def ut_hours(time_s: np.ndarray) -> np.ndarray:
    """UT hour of day [h] of UNIX times [s]."""
    return np.mod(np.asarray(time_s, float), 86400.0) / 3600.0
