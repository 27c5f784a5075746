"""A respiratory surrogate from the projections themselves (as clinical 4D CBCT extracts one).

The breathing signal is taken from the cone-beam projections alone, Amsterdam-shroud style:

1. per view, the superior-inferior edge profile: the mean over detector columns of the
   derivative of the line integrals along the detector rows (the diaphragm and the lung
   bases are horizontal edges that move along the rows as the patient breathes);
2. the slow change with the gantry angle is removed: per detector row, a Fourier series in
   the gantry angle up to `n_harmonics` (the anatomy seen from another side) is fitted over
   all views and subtracted, leaving what changes with breathing (~15 cycles per rotation);
3. the first principal component of what remains, over views, is the signal s(t).

s is scaled to [0, 1] between its 5th and 95th percentiles. A principal component has no
sign; it is fixed by a convention, that s dwells near 1 (its median above its mean), which is
how the phantom's trace d(t) = 1 - cos^4(pi phi) behaves; the motion model is linear in s,
so the fit does not depend on this choice, only the figures do.
The hysteresis channel is ds/dt (scaled to unit standard deviation), so a linear motion
model in (s, ds/dt) can follow a loop (McClelland et al. 2013, surrogate-driven motion
models). Both are resampled on `GRID` points of the normalised scan time [0, 1], which is
what `physx4dct.fusion.surrogate.SurrogateField` stores and interpolates.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GRID", "SurrogateSignal", "extract_surrogate", "surrogate_on_grid"]

GRID = 256
"""Samples of the stored surrogate over the normalised scan time [0, 1]."""


class SurrogateSignal:
    """Breathing surrogate s (in [0, 1] between its 5th/95th percentiles) and ds/dt per view."""

    def __init__(self, times_s: np.ndarray, signal: np.ndarray, velocity: np.ndarray) -> None:
        self.times_s = times_s
        """(N,) view times (s), ascending."""
        self.signal = signal
        """(N,) surrogate s."""
        self.velocity = velocity
        """(N,) ds/dt scaled to unit standard deviation."""


def _edge_profiles(projections: np.ndarray) -> np.ndarray:
    """(N, H-1) mean over detector columns of the row derivative of each projection."""
    p = np.asarray(projections, dtype=np.float64)
    return np.diff(p, axis=1).mean(axis=2)


def _angular_residual(profiles: np.ndarray, angles: np.ndarray, n_harmonics: int) -> np.ndarray:
    """Profiles minus their least-squares Fourier series in the gantry angle."""
    cols = [np.ones_like(angles)]
    for k in range(1, n_harmonics + 1):
        cols += [np.cos(k * angles), np.sin(k * angles)]
    basis = np.stack(cols, axis=1)
    coef, *_ = np.linalg.lstsq(basis, profiles, rcond=None)
    return profiles - basis @ coef


def extract_surrogate(
    projections: np.ndarray,
    angles_rad: np.ndarray,
    times_s: np.ndarray,
    n_harmonics: int = 2,
) -> SurrogateSignal:
    """Breathing surrogate from the projections (see the module docstring).

    Parameters
    ----------
    projections : ndarray
        (N, H, W) line integrals, rows along the rotation axis.
    angles_rad : ndarray
        (N,) gantry angles (rad).
    times_s : ndarray
        (N,) acquisition times (s).
    n_harmonics : int
        Fourier orders in the gantry angle removed as anatomy (must stay well below the
        number of breaths per rotation).

    Returns
    -------
    SurrogateSignal
        Per view, in ascending time order.
    """
    order = np.argsort(np.asarray(times_s, float))
    t = np.asarray(times_s, float)[order]
    prof = _edge_profiles(np.asarray(projections)[order])
    n_harmonics = max(0, min(n_harmonics, (len(t) - 3) // 4))
    res = _angular_residual(prof, np.asarray(angles_rad, float)[order], n_harmonics)
    res = res - res.mean(axis=0)
    if len(t) < 3 or not np.any(res):
        zero = np.zeros_like(t)
        return SurrogateSignal(t, zero, zero)
    u, s, _ = np.linalg.svd(res, full_matrices=False)
    sig = u[:, 0] * s[0]
    if np.median(sig) < np.mean(sig):
        sig = -sig
    lo, hi = np.percentile(sig, [5, 95])
    sig = (sig - lo) / max(hi - lo, 1e-12)
    vel = np.gradient(sig, t) if len(np.unique(t)) == len(t) else np.zeros_like(sig)
    vel = vel / max(float(np.std(vel)), 1e-12)
    return SurrogateSignal(t, sig, vel)


def surrogate_on_grid(sur: SurrogateSignal, scan_s: float, n: int = GRID) -> np.ndarray:
    """(2, n) s and ds/dt at n equally spaced normalised times in [0, 1] (linear)."""
    grid = np.linspace(0.0, 1.0, n)
    t = sur.times_s / scan_s
    return np.stack([np.interp(grid, t, sur.signal), np.interp(grid, t, sur.velocity)])
