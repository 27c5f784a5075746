"""The ``loss`` section: loss weights (X²-Gaussian)."""

from __future__ import annotations

from dataclasses import dataclass

from physx4dct.sections.checks import NONNEG, ONE, UNIT, check_fields

__all__ = ["LossConfig"]


@dataclass(frozen=True)
class LossConfig:
    """Loss weights (X²-Gaussian)."""

    dssim: float = 0.25
    """Weight of D-SSIM on projections (L1 weight is 1 - dssim)."""
    tv: float = 0.05
    """Weight of 3D total variation on a random sub-volume."""
    tv_size: int = 32
    """Side (voxels) of the random TV sub-volume."""
    tv_every: int = 1
    """Apply the TV term every k-th iteration (CPU budget)."""
    plane_tv: float = 1e-4
    """HexPlane spatial-plane smoothness weight."""
    time_smooth: float = 1e-3
    """HexPlane second-difference time smoothness weight."""
    time_l1: float = 1e-4
    """HexPlane L1 of time planes from 1 (sparse motion) weight."""
    period: float = 1.0
    """Weight of the periodic consistency loss |render(t + T) - I(t)|."""
    period_from: int = 0
    """Iterations into the fine stage before the periodic loss starts."""

    def __post_init__(self) -> None:
        """Range checks."""
        nonneg = ("tv", "plane_tv", "time_smooth", "time_l1", "period", "period_from")
        spec = {n: NONNEG for n in nonneg}
        check_fields(self, {**spec, "dssim": UNIT, "tv_size": {"ge": 2}, "tv_every": ONE})
