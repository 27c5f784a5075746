"""A 4D XCAT-like breathing thorax and its breathing trace (all lengths in mm).

Breathing trace (Lujan et al. 1999 with n = 2): with the breathing phase phi(t) in cycles,
phi(t) = int_0^t 1 / P(s) ds, the normalised inhale displacement is

    d(t) = A(t) (1 - cos^4(pi phi(t))) + drift * t / T_scan

(0 at end-exhale, ~1 at end-inhale). `regular`: P and A constant; `irregular`: P(t) and A(t)
follow per-cycle random values (log-normal period jitter, normal amplitude jitter), smoothly
interpolated. `drift` is a baseline drift as a fraction of the amplitude over the scan.

Anatomy (normalised attenuation, 0 = air): body 0.20 (elliptic cylinder expanding
anterior-posterior with d), ribs 0.45, lungs 0.04 cut from below by a diaphragm dome that
descends by `amplitude_mm` * d, heart and aorta 0.24 (the heart follows the diaphragm by 30 %),
spine 0.50 with 0.30 discs, and a 10 mm tumour 0.22 in the right lung moving
superior-inferior with d and anterior-posterior with sin(2 pi phi): a hysteresis loop.
Edges are anti-aliased with a one-voxel linear ramp.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "BreathingTrace",
    "make_trace",
    "thorax_volume",
    "tumour_centre_mm",
    "diaphragm_apex_mm",
    "DIAPHRAGM_COLUMN_MM",
    "TUMOUR_RADIUS_MM",
]

TUMOUR_RADIUS_MM = 10.0
"""Radius of the spherical tumour (mm)."""
DIAPHRAGM_COLUMN_MM = (65.0, 5.0)
"""(x, y) of the left-lung dome apex, where the diaphragm position is measured (mm)."""


@dataclass
class BreathingTrace:
    """A breathing trace sampled on a fine time grid."""

    time_s: np.ndarray
    """(M,) sample times (s)."""
    phase_cycles: np.ndarray
    """(M,) cumulative breathing phase phi (cycles); frac(phi) is the phase, 0 = end-exhale."""
    displacement: np.ndarray
    """(M,) normalised inhale displacement d(t)."""

    def at(self, t_s: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """(phi, d) at times `t_s` (linear interpolation)."""
        t = np.asarray(t_s, dtype=np.float64)
        return (
            np.interp(t, self.time_s, self.phase_cycles),
            np.interp(t, self.time_s, self.displacement),
        )

    def time_of_phase(self, phi: float) -> float:
        """The time (s) at which the cumulative phase equals `phi` (cycles)."""
        return float(np.interp(phi, self.phase_cycles, self.time_s))

    def mean_period_s(self) -> float:
        """Scan length divided by the number of cycles."""
        return float(
            (self.time_s[-1] - self.time_s[0]) / (self.phase_cycles[-1] - self.phase_cycles[0])
        )


def _smooth_cycle_noise(rng: np.random.Generator, t: np.ndarray, knot_s: float) -> np.ndarray:
    """Unit-variance random values at knots `knot_s` apart, cosine-interpolated at `t`."""
    n = int(math.ceil(t[-1] / knot_s)) + 2
    vals = rng.standard_normal(n)
    x = t / knot_s
    i = np.floor(x).astype(int)
    w = 0.5 - 0.5 * np.cos(np.pi * (x - i))
    return vals[i] * (1 - w) + vals[i + 1] * w


def make_trace(
    scan_s: float,
    period_s: float,
    kind: str = "regular",
    *,
    period_jitter: float = 0.15,
    amplitude_jitter: float = 0.2,
    drift: float = 0.0,
    seed: int = 0,
    dt_s: float = 0.01,
) -> BreathingTrace:
    """Breathing trace over [0, scan_s] (see the module docstring)."""
    if kind not in ("regular", "irregular"):
        raise ValueError(f"unknown breathing trace kind {kind!r} (regular | irregular)")
    if period_s <= 0 or scan_s <= 0:
        raise ValueError("period_s and scan_s must be positive")
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, scan_s + dt_s, dt_s)
    if kind == "regular":
        period = np.full_like(t, period_s)
        amp = np.ones_like(t)
    else:
        period = period_s * np.exp(period_jitter * _smooth_cycle_noise(rng, t, period_s))
        amp = np.clip(1.0 + amplitude_jitter * _smooth_cycle_noise(rng, t, period_s), 0.3, 2.0)
    freq = 1.0 / period
    phi = np.concatenate([[0.0], np.cumsum(0.5 * (freq[1:] + freq[:-1]) * np.diff(t))])
    d = amp * (1.0 - np.cos(np.pi * phi) ** 4) + drift * t / scan_s
    return BreathingTrace(time_s=t, phase_cycles=phi, displacement=d)


def tumour_centre_mm(
    d: np.ndarray | float, phi: np.ndarray | float, amplitude_mm: float
) -> np.ndarray:
    """Tumour centre (..., 3) in mm for displacement `d` and phase `phi` (cycles): 0.8 of the
    diaphragm excursion superior-inferior and 4 sin(2 pi phi) mm anterior-posterior.
    """
    d, phi = np.broadcast_arrays(np.asarray(d, float), np.asarray(phi, float))
    dia = amplitude_mm * d
    return np.stack(
        [np.full_like(dia, -60.0), 10.0 + 4.0 * np.sin(2 * np.pi * phi), 5.0 - 0.8 * dia], -1
    )


def diaphragm_apex_mm(d: np.ndarray | float, amplitude_mm: float) -> np.ndarray:
    """Height z (mm) of the lung dome apex at `DIAPHRAGM_COLUMN_MM` for displacement `d`."""
    return -15.0 - amplitude_mm * np.asarray(d, float)


def _ramp(signed_mm: Tensor, voxel_mm: float) -> Tensor:
    """Anti-aliased inside-indicator from an (approximate) signed distance, >0 inside."""
    return (0.5 + signed_mm / voxel_mm).clamp(0.0, 1.0)


def _ellipsoid(p: Tensor, centre: tuple, axes: tuple, voxel_mm: float) -> Tensor:
    """Indicator of an ellipsoid; signed distance approximated by (1 - r) min(axes)."""
    q = [(p[..., i] - centre[i]) / axes[i] for i in range(3)]
    r = torch.sqrt(q[0] ** 2 + q[1] ** 2 + q[2] ** 2)
    return _ramp((1.0 - r) * min(axes), voxel_mm)


def _cylinder_z(
    p: Tensor, centre_xy: tuple, axes_xy: tuple, z_half: float, voxel_mm: float
) -> Tensor:
    """Indicator of an elliptic cylinder along z, |z| <= z_half."""
    r = torch.sqrt(
        ((p[..., 0] - centre_xy[0]) / axes_xy[0]) ** 2
        + ((p[..., 1] - centre_xy[1]) / axes_xy[1]) ** 2
    )
    radial = _ramp((1.0 - r) * min(axes_xy), voxel_mm)
    return radial * _ramp(z_half - p[..., 2].abs(), voxel_mm)


def _paint(vol: Tensor, mask: Tensor, value: float) -> Tensor:
    return vol * (1.0 - mask) + value * mask


def thorax_volume(
    points_mm: Tensor, d: float, phi: float, amplitude_mm: float = 15.0, voxel_mm: float = 5.0
) -> Tensor:
    """Attenuation at `points_mm` (..., 3) for displacement `d` and phase `phi` (cycles)."""
    p = points_mm
    ap = 1.0 + 0.04 * d  # anterior-posterior expansion of the chest
    body = _cylinder_z(p, (0.0, 0.0), (140.0, 100.0 * ap), 140.0, voxel_mm)
    vol = _paint(torch.zeros_like(p[..., 0]), body, 0.20)
    inner = _cylinder_z(p, (0.0, 0.0), (126.0, 88.0 * ap), 141.0, voxel_mm)
    rib_rows = (torch.cos(2 * math.pi * p[..., 2] / 30.0) > 0.2).to(p.dtype)
    vol = _paint(vol, body * (1.0 - inner) * rib_rows * (p[..., 1] > -60).to(p.dtype), 0.45)
    dia = amplitude_mm * d
    for side in (-1.0, 1.0):
        cx = 65.0 * side
        lung = _ellipsoid(p, (cx, 5.0, 25.0), (48.0, 60.0 * ap, 95.0), voxel_mm)
        dome = (
            -45.0
            - dia
            + 30.0
            * (1.0 - ((p[..., 0] - cx) / 60.0) ** 2 - ((p[..., 1] - 5.0) / 70.0) ** 2).clamp_min(
                0.0
            )
        )
        vol = _paint(vol, lung * _ramp(p[..., 2] - dome, voxel_mm), 0.04)
    vol = _paint(
        vol, _ellipsoid(p, (15.0, -30.0, -10.0 - 0.3 * dia), (42.0, 36.0, 40.0), voxel_mm), 0.24
    )
    aorta = _cylinder_z(p, (-12.0, 40.0), (11.0, 11.0), 100.0, voxel_mm)
    vol = _paint(vol, aorta, 0.24)
    spine = _cylinder_z(p, (0.0, 72.0), (17.0, 15.0), 140.0, voxel_mm)
    discs = (torch.cos(2 * math.pi * p[..., 2] / 30.0) > -0.8).to(p.dtype)
    vol = _paint(vol, spine, 0.30)
    vol = _paint(vol, spine * discs, 0.50)
    tumour_c = tuple(float(c) for c in tumour_centre_mm(d, phi, amplitude_mm))
    r = TUMOUR_RADIUS_MM
    vol = _paint(vol, _ellipsoid(p, tumour_c, (r, r, r), voxel_mm), 0.22)
    return vol
