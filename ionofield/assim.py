"""Optimal interpolation of point observations (profiles, in-situ) onto an IRI background.

The analysis is log10 Ne = background + increment, where the increment is the posterior
mean of a Gaussian-process residual (Gandin / Kalnay, "optimal interpolation"):

    r(x) ~ GP(0, sigma^2 exp(-d^2 / 2 L^2 - (dh)^2 / 2 Lh^2 - (dt)^2 / 2 T^2)),
    r_j = y_j - background_j + e_j,  e_j ~ N(0, obs_error^2),
    increment(x) = k(x, X) (K + obs_error^2 I)^-1 r,

with d the chord distance between points on the Earth's surface (seam-free: computed from
unit vectors), dh the altitude difference and dt the time difference. The increment decays
to zero, i.e. the field returns to the background, farther than a few L, Lh or T from every
observation: a profile of another day or place leaves the field at IRI. The scales are
fixed a priori from typical background-error correlations of ionospheric assimilation
(~1500 km horizontally, ~150 km vertically, ~2 h), never tuned on a reported score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ionofield.geometry import unit_vector

EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class OISettings:
    """Background-error model of the optimal interpolation (log10 Ne units)."""

    sigma_log10: float = 0.15
    """Background (IRI) error standard deviation [log10 Ne] (~40 %)."""
    length_km: float = 1500.0
    """Horizontal correlation length [km]."""
    vertical_km: float = 150.0
    """Vertical correlation length [km]."""
    time_h: float = 2.0
    """Temporal correlation length [h]."""
    obs_error_log10: float = 0.1
    """Observation (retrieval + representativeness) error [log10 Ne] at and above
    ``low_km``."""
    low_obs_error_log10: float = 0.3
    """Observation error below ``low_km`` [log10 Ne]: Abel-retrieved RO densities of the E
    and F1 regions carry errors up to a factor of two (Yue et al. 2010, JGR 115, A00E07)."""
    low_km: float = 200.0
    """Altitude below which ``low_obs_error_log10`` applies [km]."""
    max_points: int = 4000
    """Observations kept (evenly thinned beyond this; the solve is O(N^3))."""


def _coords(lat: np.ndarray, lon: np.ndarray, time_s: np.ndarray, s: OISettings) -> np.ndarray:
    """Horizontal + time coordinates scaled so a unit distance is one correlation length."""
    xyz = unit_vector(np.asarray(lat, float), np.asarray(lon, float)) * (
        EARTH_RADIUS_KM / s.length_km
    )
    return np.column_stack([xyz, np.asarray(time_s, float) / (3600.0 * s.time_h)])


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T, 0.0)


class Increment:
    """The analysis increment of observations ``residual`` = obs - background at points.

    Parameters
    ----------
    lat, lon, alt_km, time_s
        Observation positions (1-D, equal length; UNIX seconds).
    residual
        Observed minus background log10 Ne at those points.
    settings
        The background-error model.
    """

    def __init__(
        self,
        lat: np.ndarray,
        lon: np.ndarray,
        alt_km: np.ndarray,
        time_s: np.ndarray,
        residual: np.ndarray,
        settings: OISettings = OISettings(),
    ) -> None:
        n = np.asarray(residual).size
        keep = np.unique(np.linspace(0, n - 1, min(n, settings.max_points)).round().astype(int))
        self.s = settings
        self.xt = _coords(np.asarray(lat)[keep], np.asarray(lon)[keep],
                          np.asarray(time_s)[keep], settings)  # fmt: skip
        self.h = np.asarray(alt_km, float)[keep] / settings.vertical_km
        k = self._kernel(self.xt, self.h[:, None])
        low = np.asarray(alt_km, float)[keep] < settings.low_km
        k[np.diag_indices_from(k)] += (
            np.where(low, settings.low_obs_error_log10, settings.obs_error_log10) ** 2
        )
        chol = np.linalg.cholesky(k)
        r = np.asarray(residual, float)[keep]
        self.alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, r))

    def _kernel(self, xt: np.ndarray, h: np.ndarray) -> np.ndarray:
        d2 = _sq_dist(xt, self.xt) + (h - self.h[None, :]) ** 2
        return self.s.sigma_log10**2 * np.exp(-0.5 * d2)

    def at_points(
        self, lat: np.ndarray, lon: np.ndarray, alt_km: np.ndarray, time_s: np.ndarray
    ) -> np.ndarray:
        """Increment [log10 Ne] at points (1-D arrays of equal length)."""
        xt = _coords(lat, lon, time_s, self.s)
        h = np.asarray(alt_km, float)[:, None] / self.s.vertical_km
        out = [self._kernel(xt[i : i + 4096], h[i : i + 4096]) @ self.alpha
               for i in range(0, xt.shape[0], 4096)]  # fmt: skip
        return np.concatenate(out) if out else np.zeros(0)

    def on_columns(
        self, lat: np.ndarray, lon: np.ndarray, time_s: np.ndarray, alt_km: np.ndarray
    ) -> np.ndarray:
        """Increment on columns (C,) x a shared altitude grid (A,), shape (C, A).

        The kernel is separable, so this is (horizontal x time kernel * alpha) @ vertical
        kernel: one matrix product per chunk of columns.
        """
        xt = _coords(lat, lon, time_s, self.s)
        kv = np.exp(-0.5 * (np.asarray(alt_km, float)[:, None] / self.s.vertical_km
                            - self.h[None, :]) ** 2)  # fmt: skip
        out = []
        for i in range(0, xt.shape[0], 2048):
            kh = self.s.sigma_log10**2 * np.exp(-0.5 * _sq_dist(xt[i : i + 2048], self.xt))
            out.append((kh * self.alpha[None, :]) @ kv.T)
        return np.concatenate(out) if out else np.zeros((0, np.size(alt_km)))
