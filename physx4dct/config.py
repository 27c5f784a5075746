"""Configuration dataclasses of physx4dct (frozen; presets in `physx4dct/presets/*.yaml`).

`Config` is what `physx4dct train` reads (`--preset`, `--config`, options, `--set a.b=v`);
`PhantomConfig` is what `physx4dct phantom` reads (section `phantom` of the same presets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from physx4dct.deformation import HexPlaneConfig
from physx4dct.fusion import FusionConfig

__all__ = [
    "PRESETS_DIR",
    "PhantomConfig",
    "GaussianConfig",
    "LossConfig",
    "TrainConfig",
    "Config",
    "HexPlaneConfig",
    "FusionConfig",
]

PRESETS_DIR = Path(__file__).parent / "presets"


@dataclass(frozen=True)
class PhantomConfig:
    """The simulated 4D thorax scan (`physx4dct phantom`)."""

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
    trace: str = "regular"
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
    """Incident photons per pixel for Poisson noise (0 = noiseless)."""
    phase_noise: float = 0.0
    """Robustness variant: std of the error of recorded phases/times (fraction of a cycle)."""
    sparse_stride: int = 1
    """Robustness variant: keep every k-th training view (sparse views)."""
    static: bool = False
    """No breathing at all (for FDK / projector checks)."""
    seed: int = 0
    """Seed of the trace and the noise."""


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
    """Floor on every scale (std, voxels) of the deformed Gaussians: the deformation's scale
    head cannot shrink a Gaussian into a needle whose covariance is singular in float32 (a
    9600-iteration fit crashed in the voxelizer when a few border Gaussians reached e^-13 of
    their size)."""
    prune_density: float = 0.002
    """Prune Gaussians whose peak density falls below this value."""
    max_scale_vox: float = 10.0
    """Prune Gaussians larger than this (voxels)."""


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


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation schedule."""

    iterations: int = 3000
    """Total iterations (coarse + fine)."""
    coarse_iterations: int = 500
    """Static (no deformation) iterations first; 4D model only."""
    views_per_step: int = 1
    """Projections per iteration (per process under torchrun)."""
    lr_position: float = 5e-4
    """Adam lr of Gaussian centres (scene units), decayed x0.1 by the end."""
    lr_density: float = 1e-2
    """Adam lr of the (softplus) densities."""
    lr_scale: float = 5e-3
    """Adam lr of log-scales."""
    lr_rotation: float = 1e-3
    """Adam lr of quaternions."""
    lr_hexplane: float = 1.6e-3
    """Adam lr of the HexPlane grids (decoder: lr / 10), decayed x0.1 by the end."""
    lr_period: float = 1e-3
    """Adam lr of tau, T = exp(tau)."""
    period_init_s: float = 3.6
    """Initial breathing period (s); learned when `learn_period`."""
    learn_period: bool = True
    """Learn the period T = exp(tau) (X²-Gaussian SSRML)."""
    log_every: int = 50
    """Metrics interval (iterations)."""
    eval_every: int = 500
    """Validation interval (iterations); best.pt keeps the best validation PSNR."""
    ckpt_every: int = 250
    """Checkpoint interval (iterations)."""
    budget: int = 2_000_000
    """Window cells evaluated per chunk in the splatter/voxelizer (memory bound)."""


@dataclass(frozen=True)
class Config:
    """Everything `physx4dct train` needs (saved in config.yaml and every checkpoint)."""

    model: str = "4d"
    """4d (Gaussians + deformation) | static (R²-Gaussian 3D fit)."""
    seed: int = 0
    """Random seed."""
    dtype: str = "float32"
    """float32 | float64."""
    gaussians: GaussianConfig = field(default_factory=GaussianConfig)
    """Gaussian cloud."""
    hexplane: HexPlaneConfig = field(default_factory=HexPlaneConfig)
    """HexPlane deformation field."""
    fusion: FusionConfig = field(default_factory=FusionConfig)
    """Fusion of the HexPlane field with the anchor branch (issue 6)."""
    loss: LossConfig = field(default_factory=LossConfig)
    """Loss weights."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """Optimisation schedule."""
    phantom: PhantomConfig = field(default_factory=PhantomConfig)
    """Scan simulated by `physx4dct phantom` with this preset."""
