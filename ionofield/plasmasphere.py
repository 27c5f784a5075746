"""Empirical plasmasphere above the IRI topside, so vertical TEC reaches GPS altitude.

GPS-derived TEC counts every electron up to the satellites (~20,200 km); IRI is integrated
here only to its cube top (1000 km). Above it this module puts an empirical plasmasphere:

- Equatorial density, Carpenter & Anderson (1992, JGR 97, 1097, eq. 5), L in Earth radii:
  log10 n_eq [cm^-3] = -0.3145 L + 3.9043
                       + 0.15 cos(2 pi (d + 9) / 365) - 0.075 cos(4 pi (d + 9) / 365)
                       + (0.00127 R13 - 0.0635) exp(-(L - 2) / 1.5),
  d the day of year and R13 the smoothed sunspot number (here from the day's F10.7 with
  F10.7 = 63.7 + 0.728 R + 8.9e-4 R^2, Tapping & Valdes 2011).
- Plasmapause (Carpenter & Anderson 1992, eq. 7): L_pp = 5.6 - 0.46 Kp_max (max Kp of the
  previous 24 h); outside it the density falls one decade per 0.1 L (their plasmapause slope).
- Along a dipole field line (Denton et al. 2002, GRL 29, 2205): n(r) = n_eq (L / r)^alpha,
  alpha = 8 - 0.43 L - 3 log10 n_eq + 0.28 (log10 n_eq)^2, r the geocentric distance [R_E]
  (log10 n_eq clipped to their fit range 0.3..3.2 and alpha to 0..3 inside this formula).
- A vertical column above magnetic latitude lambda_m: r = 1 + h / R_E, L = r / cos^2(lambda_m).

The formulas are used below L = 2 (the fit range is 2.25 < L < 8) as their extrapolation;
the learned model rescales the whole plasmaspheric content by a bounded factor, so it is
the altitude shape, not the absolute value, that is taken from the literature.
"""

from __future__ import annotations

import numpy as np

R_EARTH_KM = 6371.0
GPS_ALT_KM = 20200.0
BASE_ALT_KM = 1000.0


def sunspot_from_f107(f107: np.ndarray) -> np.ndarray:
    """Sunspot number R from F10.7 [sfu] by inverting F = 63.7 + 0.728 R + 8.9e-4 R^2."""
    a, b = 8.9e-4, 0.728
    c = 63.7 - np.maximum(np.asarray(f107, float), 63.7)
    return (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)


def equatorial_log10_ne_cm3(
    l_shell: np.ndarray, doy: np.ndarray, f107: np.ndarray, kp_max: np.ndarray
) -> np.ndarray:
    """Carpenter & Anderson (1992) equatorial log10 n_e [cm^-3] with the plasmapause drop."""
    ell = np.asarray(l_shell, float)
    d = np.asarray(doy, float)
    season = 0.15 * np.cos(2 * np.pi * (d + 9) / 365.0) - 0.075 * np.cos(
        4 * np.pi * (d + 9) / 365.0
    )
    solar = (0.00127 * sunspot_from_f107(f107) - 0.0635) * np.exp(-(ell - 2.0) / 1.5)
    log_n = -0.3145 * ell + 3.9043 + season + solar
    l_pp = 5.6 - 0.46 * np.asarray(kp_max, float)
    return log_n - np.maximum(ell - l_pp, 0.0) / 0.1


def ne_m3(
    mlat_deg: np.ndarray,
    alt_km: np.ndarray,
    doy: np.ndarray,
    f107: np.ndarray,
    kp_max: np.ndarray,
) -> np.ndarray:
    """Plasmaspheric electron density [m^-3] at magnetic latitude and altitude (broadcasting)."""
    r = 1.0 + np.asarray(alt_km, float) / R_EARTH_KM
    cos2 = np.maximum(np.cos(np.deg2rad(mlat_deg)) ** 2, 1e-6)
    ell = r / cos2
    log_eq = equatorial_log10_ne_cm3(ell, doy, f107, kp_max)
    # Denton's fit covers 2 <= n_eq <= 1500 cm^-3: alpha is evaluated inside that range
    x = np.clip(log_eq, 0.3, 3.2)
    alpha = np.clip(8.0 - 0.43 * ell - 3.0 * x + 0.28 * x**2, 0.0, 3.0)
    log_n = log_eq + alpha * np.log10(ell / r)
    return 10.0 ** np.clip(log_n, -30.0, 8.0) * 1.0e6


def altitude_grid(
    base_km: float = BASE_ALT_KM, top_km: float = GPS_ALT_KM, n: int = 64
) -> np.ndarray:
    """Log-spaced altitudes [km] from ``base_km`` to ``top_km`` (dense where Ne is high)."""
    return np.geomspace(base_km, top_km, n)


def vtec_tecu(
    mlat_deg: np.ndarray,
    doy: np.ndarray,
    f107: np.ndarray,
    kp_max: np.ndarray,
    base_km: float = BASE_ALT_KM,
    top_km: float = GPS_ALT_KM,
) -> np.ndarray:
    """Vertical plasmaspheric electron content [TECU] from ``base_km`` to ``top_km``.

    Inputs are 1-D arrays of equal length (one column each); trapezoid rule on 64 log-spaced
    altitudes (converged to < 0.5 % against 512).
    """
    alt = altitude_grid(base_km, top_km)
    cols = [np.asarray(a, float).reshape(-1, 1) for a in (mlat_deg, doy, f107, kp_max)]
    ne = ne_m3(cols[0], alt[None, :], cols[1], cols[2], cols[3])
    return np.trapezoid(ne, x=alt, axis=-1) * 1.0e-13


def pec_maps(
    lat_deg: np.ndarray, lon_deg: np.ndarray, times_s: np.ndarray, base_km: float = BASE_ALT_KM
) -> np.ndarray:
    """Plasmaspheric content [TECU] above ``base_km`` on a grid, shape (T, H, W).

    Magnetic latitude from the centred dipole, day of year, F10.7 of the day and the maximum
    Kp of the previous 24 h from the offline record (:mod:`ionofield.swx`).
    """
    from ionofield import geometry, swx

    lon2, lat2 = np.meshgrid(np.asarray(lon_deg, float), np.asarray(lat_deg, float))
    mlat = geometry.magnetic_latitude_deg(lat2.ravel(), lon2.ravel())
    out = np.empty((len(times_s), *lat2.shape))
    for k, t in enumerate(np.asarray(times_s, float)):
        kp_max = max(swx.kp_at(np.array([t - 3 * 3600.0 * j]))[0] for j in range(8))
        n = mlat.size
        doy = np.full(n, geometry.day_of_year(np.array([t]))[0])
        f107 = np.full(n, swx.f107_at(np.array([t]))[0])
        out[k] = vtec_tecu(mlat, doy, f107, np.full(n, kp_max), base_km).reshape(lat2.shape)
    return out
