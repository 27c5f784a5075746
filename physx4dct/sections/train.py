"""The ``train`` section: the optimisation schedule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from physx4dct.sections.checks import NONNEG, ONE, POS, UNIT, check_fields

__all__ = ["TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation schedule."""

    iterations: int = 3000
    """Total iterations (coarse + fine)."""
    coarse_iterations: int = 500
    """Static (no deformation) iterations first; 4D model only."""
    views_per_step: int = 1
    """Projections per iteration (per process under torchrun)."""
    patch: int = 0
    """Ray batching: side (pixels) of a random square detector patch rendered and compared
    per projection and iteration instead of the whole view (NeRF / Gaussian CT training on
    large detectors); 0 or a side >= the detector renders whole views."""
    lr_position: float = 5e-4
    """Adam lr of Gaussian centres (scene units); follows the schedule."""
    lr_density: float = 1e-2
    """Adam lr of the (softplus) densities."""
    lr_scale: float = 5e-3
    """Adam lr of log-scales."""
    lr_rotation: float = 1e-3
    """Adam lr of quaternions."""
    lr_hexplane: float = 1.6e-3
    """Adam lr of the HexPlane grids (decoder: lr / 10); follows the schedule."""
    lr_period: float = 1e-3
    """Adam lr of tau, T = exp(tau)."""
    lr_warmup: int = 0
    """Linear warm-up iterations of the scheduled groups (common.schedule.warmup_cosine)."""
    lr_floor: float = 0.1
    """Final lr of the scheduled groups (positions, deformation networks) as a fraction of
    their initial lr, reached by a cosine decay; the other groups keep a constant lr."""
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
    ema_decay: float = 0.0
    """Save averaged weights: the running mean of the iterates from `ema_start` on, an
    exponential moving average with this decay once it spans 1 / (1 - decay) iterations
    (`physx4dct.averaging`); 0 saves the last iterate. `load_model` uses the average; the
    raw weights stay in the checkpoint for --resume."""
    ema_start: int = -1
    """First iteration of the average; -1 = `gaussians.densify_until` (shapes fixed after)."""
    budget: int = 2_000_000
    """Window cells evaluated per chunk in the splatter/voxelizer (memory bound)."""
    rasterizer: Literal["torch", "cuda"] = "torch"
    """Projector: torch (the pure-torch splatter, default) or cuda (R²-Gaussian's X-ray
    rasterizer when it and a CUDA device are present; `physx4dct.rasterizer`)."""

    def __post_init__(self) -> None:
        """Range checks."""
        lrs = ("lr_position", "lr_density", "lr_scale", "lr_rotation", "lr_hexplane", "lr_period")
        spec = {n: NONNEG for n in lrs}
        spec |= {n: ONE for n in ("iterations", "views_per_step", "log_every", "eval_every")}
        spec |= {"ckpt_every": ONE, "budget": ONE, "coarse_iterations": NONNEG}
        spec |= {"lr_warmup": NONNEG, "lr_floor": UNIT, "period_init_s": POS}
        spec |= {"patch": NONNEG, "ema_start": {"ge": -1}, "ema_decay": {"ge": 0, "lt": 1}}
        check_fields(self, spec)
