"""Physical inputs of the learned field: where and when a point is, with no seam and no
absolute time.

- Position as a point on the unit sphere, (cos lat cos lon, cos lat sin lon, sin lat):
  periodic in longitude by construction, so lon -180 and lon 180 give the same input.
- Magnetic latitude of a centred dipole whose north pole sits at (80.65 N, 72.68 W)
  (IGRF-13, epoch 2020): sin(mlat) = sin(lat) sin(lat_p) + cos(lat) cos(lat_p) cos(lon - lon_p).
- Local (mean solar) time LT = (UT + lon/15) mod 24, as (sin, cos) of 2 pi LT / 24.
- Solar zenith angle chi: cos chi = sin(lat) sin(dec) + cos(lat) cos(dec) cos(2 pi (LT-12)/24),
  declination dec = -23.44 deg cos(2 pi (doy + 10) / 365.25) (Cooper 1969 form).
- Day of year as (sin, cos) of 2 pi doy / 365.25.
- Space weather: Kp (the last 24 h, 3-hourly means), the 24-h maximum Kp and the daily F10.7
  of the day and the day before, from the offline record of :mod:`ionofield.swx`.

Nothing here depends on the absolute date except through doy and the space-weather values,
so a day after the training span is an interpolation in every input.
"""

from __future__ import annotations

import math

import numpy as np

from ionofield import swx

POLE_LAT_DEG, POLE_LON_DEG = 80.65, -72.68
OBLIQUITY_DEG = 23.44
N_FEATURES = 9 + 8 + 3
FEATURE_NAMES = (
    "x",
    "y",
    "z",
    "sin_mlat",
    "sin_lt",
    "cos_lt",
    "cos_sza",
    "sin_doy",
    "cos_doy",
    *(f"kp_m{3 * k}h" for k in range(8)),
    "kp_max24",
    "f107",
    "f107_prev",
)


def unit_vector(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Points on the unit sphere, shape (..., 3): periodic in longitude (no seam)."""
    lat, lon = np.deg2rad(lat_deg), np.deg2rad(lon_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], -1)


def magnetic_latitude_deg(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Centred-dipole magnetic latitude [deg] (pole 80.65 N, 72.68 W)."""
    lat, lon = np.deg2rad(lat_deg), np.deg2rad(lon_deg)
    plat, plon = math.radians(POLE_LAT_DEG), math.radians(POLE_LON_DEG)
    s = np.sin(lat) * math.sin(plat) + np.cos(lat) * math.cos(plat) * np.cos(lon - plon)
    return np.rad2deg(np.arcsin(np.clip(s, -1.0, 1.0)))


def day_of_year(time_s: np.ndarray) -> np.ndarray:
    """Fractional day of year (1 = 1 Jan 00 UT) of UNIX times [s]."""
    t = np.asarray(time_s, float)
    days = np.floor(t / 86400.0).astype("int64")
    years = days.astype("datetime64[D]").astype("datetime64[Y]")
    jan1 = years.astype("datetime64[D]").astype("int64")
    return 1.0 + t / 86400.0 - jan1


def local_time_h(time_s: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Local mean solar time [h] = (UT + lon/15) mod 24."""
    ut = np.mod(np.asarray(time_s, float), 86400.0) / 3600.0
    return np.mod(ut + np.asarray(lon_deg) / 15.0, 24.0)


def cos_solar_zenith(lat_deg: np.ndarray, lon_deg: np.ndarray, time_s: np.ndarray) -> np.ndarray:
    """Cosine of the solar zenith angle (declination from the day of year, mean solar time)."""
    dec = math.radians(OBLIQUITY_DEG) * -np.cos(2 * np.pi * (day_of_year(time_s) + 10) / 365.25)
    hour_angle = 2 * np.pi * (local_time_h(time_s, lon_deg) - 12.0) / 24.0
    lat = np.deg2rad(lat_deg)
    return np.sin(lat) * np.sin(dec) + np.cos(lat) * np.cos(dec) * np.cos(hour_angle)


def space_weather(time_s: np.ndarray) -> np.ndarray:
    """Normalised drivers (N, 11) at UNIX times ``time_s``.

    Kp / 9 at t, t-3h, .., t-21h; the max of those; F10.7 of t and of t - 24 h as
    (value - 150) / 100.
    """
    t = np.asarray(time_s, float).reshape(-1)
    kp = np.stack([swx.kp_at(t - 3 * 3600.0 * k) for k in range(8)], -1) / swx.KP_SCALE
    f107 = (swx.f107_at(t) - swx.F107_REF) / swx.F107_SCALE
    f107_prev = (swx.f107_at(t - 86400.0) - swx.F107_REF) / swx.F107_SCALE
    return np.concatenate([kp, kp.max(-1, keepdims=True), f107[:, None], f107_prev[:, None]], -1)


def features(lat_deg: np.ndarray, lon_deg: np.ndarray, time_s: np.ndarray) -> np.ndarray:
    """All physical inputs of points, shape (N, N_FEATURES) float32 (see FEATURE_NAMES).

    ``lat_deg``, ``lon_deg``, ``time_s`` are 1-D arrays of equal length (UNIX seconds, UTC).
    """
    lat, lon, t = (np.asarray(a, float).reshape(-1) for a in (lat_deg, lon_deg, time_s))
    lt = 2 * np.pi * local_time_h(t, lon) / 24.0
    doy = 2 * np.pi * day_of_year(t) / 365.25
    geo = np.column_stack(
        [
            unit_vector(lat, lon),
            np.sin(np.deg2rad(magnetic_latitude_deg(lat, lon))),
            np.sin(lt),
            np.cos(lt),
            cos_solar_zenith(lat, lon, t),
            np.sin(doy),
            np.cos(doy),
        ]
    )
    sw = _space_weather_cached(t)
    return np.concatenate([geo, sw], -1).astype(np.float32)


def _space_weather_cached(t: np.ndarray) -> np.ndarray:
    """Space weather per unique time (maps share one epoch over thousands of cells)."""
    uniq, inv = np.unique(t, return_inverse=True)
    return space_weather(uniq)[inv.reshape(-1)]
