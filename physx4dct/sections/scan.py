"""The ``data`` (the scan to reconstruct) and ``phantom`` (the simulated scan) sections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from physx4dct.sections.checks import NONNEG, ONE, POS, check_fields

__all__ = ["DataConfig", "PhantomConfig"]


@dataclass(frozen=True)
class DataConfig:
    """The scan ``physx4dct train`` reconstructs."""

    path: str = ""
    """Scan file (.pickle, NAF/X²-Gaussian layout); ``--data`` sets it."""
    layout: Literal["auto", "x2", "naf", "stnf", "native"] = "auto"
    """Pickle layout of the scan (auto-detected from its keys by default); ``--layout``."""


@dataclass(frozen=True)
class PhantomConfig:
    """The simulated 4D thorax scan (``physx4dct phantom``)."""

    n_views: int = 100
    """Number of training projections over the scan."""
    n_val: int = 10
    """Number of validation projections (interleaved in angle and time)."""
    detector: int = 64
    """Detector pixels per side (square detector)."""
    volume: int = 64
    """Voxels per side of the reconstruction / ground-truth grid."""
    fov_mm: float = 320.0
    """Side of the cubic volume (mm)."""
    DSD: float = 1500.0
    """Source-detector distance (mm)."""
    DSO: float = 1000.0
    """Source-rotation-axis distance (mm)."""
    scan_s: float = 60.0
    """Duration of the continuous acquisition (s)."""
    total_angle_deg: float = 360.0
    """Gantry rotation over the scan (degrees)."""
    period_s: float = 4.0
    """Mean breathing period (s)."""
    amplitude_mm: float = 15.0
    """Diaphragm excursion at full inhale (mm)."""
    trace: Literal["regular", "irregular"] = "regular"
    """Breathing trace: regular | irregular."""
    period_jitter: float = 0.15
    """Irregular trace: log-std of the per-cycle period."""
    amplitude_jitter: float = 0.2
    """Irregular trace: std of the per-cycle amplitude (fraction)."""
    drift: float = 0.0
    """Baseline drift over the scan (fraction of the amplitude)."""
    n_phases: int = 10
    """Number of phase bins / ground-truth volumes."""
    photons: float = 0.0
    """Incident photons per pixel for Poisson noise (0 = noiseless), drawn on the physical
    transmission exp(-mu_water_mm / 0.2 * line integral in mm) (value 0.2 = water)."""
    mu_water_mm: float = 0.0206
    """Attenuation of water (1/mm, ~60 keV) that the phantom's soft-tissue value 0.2 stands
    for; sets the transmission the photon noise acts on (a 28 cm chest: exp(-5.8))."""
    oversample: int = 1
    """Projections are ray-marched through a grid this many times finer than the scoring grid
    and the ground truth is its block mean (>= 2: no inverse crime; 1: the same grid)."""
    phase_noise: float = 0.0
    """Robustness variant: std of the error of recorded phases/times (fraction of a cycle)."""
    sparse_stride: int = 1
    """Robustness variant: keep every k-th training view (sparse views)."""
    static: bool = False
    """No breathing at all (for FDK / projector checks)."""
    seed: int = 0
    """Seed of the trace and the noise."""

    def __post_init__(self) -> None:
        """Refuse values that would write an empty or meaningless scan."""
        check_fields(
            self,
            {
                "n_views": ONE,
                "n_val": NONNEG,
                "detector": {"ge": 4},
                "volume": {"ge": 4},
                "fov_mm": POS,
                "DSD": POS,
                "DSO": POS,
                "scan_s": POS,
                "total_angle_deg": POS,
                "period_s": POS,
                "amplitude_mm": NONNEG,
                "period_jitter": NONNEG,
                "amplitude_jitter": NONNEG,
                "n_phases": ONE,
                "photons": NONNEG,
                "mu_water_mm": POS,
                "oversample": ONE,
                "phase_noise": NONNEG,
                "sparse_stride": ONE,
                "seed": NONNEG,
            },
        )
        if self.n_views < self.sparse_stride:
            raise ValueError(
                f"'sparse_stride' {self.sparse_stride} keeps no view of {self.n_views}"
            )
