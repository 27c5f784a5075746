"""The in-memory scan: `Views` (projections with angles, times and phases) and `Scan`.

Its own module so that the readers and writers (`data`, `layouts`) share the types without
importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from physx4dct.geometry import ConeGeometry

__all__ = ["Scan", "Views", "phase_bins"]


@dataclass
class Views:
    """A set of projections with their angles, acquisition times and breathing phases."""

    angles: np.ndarray
    """(N,) gantry angles (rad)."""
    projections: np.ndarray
    """(N, H, W) line integrals (scene units)."""
    time_s: np.ndarray
    """(N,) acquisition times (s)."""
    phase: np.ndarray
    """(N,) recorded breathing phase in [0, 1) (0 = end-exhale)."""

    def subset(self, idx: np.ndarray) -> Views:
        """Views at indices `idx`."""
        return Views(self.angles[idx], self.projections[idx], self.time_s[idx], self.phase[idx])

    def to_dict(self) -> dict:
        """The split dict of the native layout (times in s, phases in [0, 1))."""
        return {
            "angles": self.angles,
            "projections": self.projections,
            "time": self.time_s,
            "phase": self.phase,
        }


@dataclass
class Scan:
    """One 4D (or 3D) cone-beam scan."""

    geo: ConeGeometry
    train: Views
    val: Views | None
    scan_s: float
    """Duration of the acquisition (s); model time is t / scan_s in [0, 1]."""
    volumes: np.ndarray | None = None
    """(P, nx, ny, nz) ground truth per phase (None when unknown)."""
    volume_time_s: np.ndarray | None = None
    volume_phase: np.ndarray | None = None
    breathing: dict | None = None
    meta: dict = field(default_factory=dict)


def phase_bins(phase: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index of each phase; bin k is centred on phase k / n_bins."""
    return np.floor(np.mod(phase * n_bins + 0.5, n_bins)).astype(int)
