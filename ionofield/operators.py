"""Observation operators: what a GIM, a slant path, a profile or a probe sees of a field.

- Vertical TEC of a column (differentiable):
  VTEC [TECU] = 1e-13 * integral_{h0}^{h1} Ne(h) [m^-3] dh [km]   (trapezoid rule)
              + s * PEC,
  the second term the plasmaspheric content above the IRI topside up to GPS altitude
  (:mod:`ionofield.plasmasphere`), scaled by a factor ``s`` (1 = the empirical model).
- Slant TEC along a straight ray from a receiver (spherical Earth, R = 6371 km):
  STEC = 1e-13 * integral Ne(r0 + l u) dl [km], u the unit vector at (azimuth, elevation).
- GIM misfit weighted by the map's RMS: mean(((VTEC_model - VTEC_gim) / max(rms, floor))^2),
  cells with a missing value or RMS are skipped.
- Profiles and in-situ probes see log10 Ne at their points (the field itself).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ionofield.plasmasphere import R_EARTH_KM

TECU_PER_M3_KM = 1.0e-13


def column_vtec(
    log10_ne: torch.Tensor,
    alt_km: torch.Tensor,
    pec_tecu: torch.Tensor | None = None,
    pec_scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """Vertical TEC [TECU] of columns.

    Parameters
    ----------
    log10_ne : (..., A) log10 Ne [m^-3] at ``alt_km`` (A,).
    alt_km : (A,) increasing altitudes [km].
    pec_tecu : (...) plasmaspheric content above ``alt_km[-1]`` [TECU], optional.
    pec_scale : (...) multiplier of ``pec_tecu`` (default 1).

    Returns
    -------
    (...) TEC [TECU], differentiable in ``log10_ne`` and ``pec_scale``.
    """
    ne = torch.pow(10.0, log10_ne)
    vtec = torch.trapezoid(ne, x=alt_km.to(ne.dtype), dim=-1) * TECU_PER_M3_KM
    if pec_tecu is not None:
        vtec = vtec + (pec_tecu if pec_scale is None else pec_scale * pec_tecu)
    return vtec


def rms_weighted_mse(
    pred_tecu: torch.Tensor, obs_tecu: torch.Tensor, rms_tecu: torch.Tensor, floor: float = 0.5
) -> torch.Tensor:
    """mean(((pred - obs) / max(rms, floor))^2) over cells where obs and rms are finite."""
    ok = torch.isfinite(obs_tecu) & torch.isfinite(rms_tecu)
    w = 1.0 / rms_tecu[ok].clamp_min(floor) ** 2
    return torch.sum(w * (pred_tecu[ok] - obs_tecu[ok]) ** 2) / torch.sum(w)


def _ecef(lat_deg: np.ndarray, lon_deg: np.ndarray, r_km: np.ndarray) -> np.ndarray:
    lat, lon = np.deg2rad(lat_deg), np.deg2rad(lon_deg)
    return np.stack(
        [r_km * np.cos(lat) * np.cos(lon), r_km * np.cos(lat) * np.sin(lon), r_km * np.sin(lat)],
        -1,
    )


def ray_points(
    lat_deg: float,
    lon_deg: float,
    az_deg: float,
    el_deg: float,
    top_km: float = 1000.0,
    n: int = 400,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Points of a straight ray from a ground receiver to altitude ``top_km``.

    Returns (lat_deg, lon_deg, alt_km, dl_km), each (n,), the points at the midpoints of n
    equal path segments and the segment length [km].
    """
    lat, lon = np.deg2rad(lat_deg), np.deg2rad(lon_deg)
    az, el = np.deg2rad(az_deg), np.deg2rad(el_deg)
    up = np.array([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    east = np.array([-np.sin(lon), np.cos(lon), 0.0])
    north = np.cross(up, east)
    u = np.sin(el) * up + np.cos(el) * (np.sin(az) * east + np.cos(az) * north)
    r0, rt = R_EARTH_KM, R_EARTH_KM + top_km
    length = -r0 * np.sin(el) + np.sqrt((r0 * np.sin(el)) ** 2 + rt**2 - r0**2)
    dl = length / n
    p = r0 * up[None, :] + ((np.arange(n) + 0.5) * dl)[:, None] * u[None, :]
    r = np.linalg.norm(p, axis=-1)
    return (
        np.rad2deg(np.arcsin(p[:, 2] / r)),
        np.rad2deg(np.arctan2(p[:, 1], p[:, 0])),
        r - R_EARTH_KM,
        np.full(n, dl),
    )


def slant_tec(
    ne_fn: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    lat_deg: float,
    lon_deg: float,
    az_deg: float,
    el_deg: float,
    top_km: float = 1000.0,
    n: int = 400,
) -> float:
    """Slant TEC [TECU] of ``ne_fn(lat, lon, alt) -> Ne [m^-3]`` along a receiver's ray."""
    lat, lon, alt, dl = ray_points(lat_deg, lon_deg, az_deg, el_deg, top_km, n)
    return float(np.sum(ne_fn(lat, lon, alt) * dl) * TECU_PER_M3_KM)


def ecef_km(lat_deg: np.ndarray, lon_deg: np.ndarray, alt_km: np.ndarray) -> np.ndarray:
    """Earth-centred coordinates [km] of points on a spherical Earth, shape (..., 3)."""
    return _ecef(lat_deg, lon_deg, R_EARTH_KM + np.asarray(alt_km, float))
