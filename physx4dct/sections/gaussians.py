"""The ``gaussians`` section: initialisation from FDK, densification and pruning."""

from __future__ import annotations

from dataclasses import dataclass

from physx4dct.sections.checks import NONNEG, ONE, POS, check_fields

__all__ = ["GaussianConfig"]


@dataclass(frozen=True)
class GaussianConfig:
    """Gaussian cloud: initialisation from FDK, densification and pruning (R²-Gaussian)."""

    n_init: int = 4000
    """Initial Gaussians, sampled where the FDK volume exceeds `init_threshold`."""
    init_threshold: float = 0.05
    """Sampling threshold, fraction of the FDK maximum."""
    init_density_factor: float = 0.5
    """Initial peak density = factor * FDK value at the sample point."""
    init_scale: float = 0.6
    """Initial scale (std) = this factor x mean distance to the 3 nearest initial centres."""
    max_gaussians: int = 10000
    """Hard cap on the number of Gaussians."""
    densify_from: int = 200
    """First iteration of densification (fine and static stages)."""
    densify_until: int = 1500
    """Last iteration of densification."""
    densify_every: int = 100
    """Densify/prune interval (iterations)."""
    densify_grad: float = 2e-4
    """Threshold of the mean view-space position-gradient norm for densification."""
    split_scale_vox: float = 1.5
    """Gaussians larger than this (voxels) are split, smaller ones cloned."""
    min_scale_vox: float = 0.05
    """Floor on every scale (std, voxels) of the deformed Gaussians, so the deformation's
    scale head cannot shrink a Gaussian into a needle whose covariance is singular in float32."""
    prune_density: float = 0.002
    """Prune Gaussians whose peak density falls below this value."""
    max_scale_vox: float = 10.0
    """Prune Gaussians larger than this (voxels)."""

    def __post_init__(self) -> None:
        """Range checks."""
        check_fields(
            self,
            {
                "n_init": ONE,
                "init_threshold": {"ge": 0, "lt": 1},
                "init_density_factor": POS,
                "init_scale": POS,
                "max_gaussians": ONE,
                "densify_from": NONNEG,
                "densify_until": NONNEG,
                "densify_every": ONE,
                "densify_grad": NONNEG,
                "split_scale_vox": POS,
                "min_scale_vox": NONNEG,
                "prune_density": NONNEG,
                "max_scale_vox": POS,
            },
        )
