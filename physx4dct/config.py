"""Configuration dataclasses of physx4dct (frozen; presets in ``physx4dct/presets/*.yaml``).

`Config` is what ``physx4dct train`` reads (``--preset``, ``--config``, options,
``--set a.b=v``); its ``phantom`` section is what ``physx4dct phantom`` reads. Every numeric
field has a range (`common.config.check_range`), every choice is a ``typing.Literal``, so a
bad value is refused before anything runs, in one line naming the key. This module imports
neither torch nor numpy: the CLI reads the choices from here at import time.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from common.config import check_range

__all__ = [
    "RESUME_SECTIONS",
    "FUSION_MODES",
    "PRESETS_DIR",
    "Config",
    "DataConfig",
    "FusionConfig",
    "GaussianConfig",
    "HexPlaneConfig",
    "LossConfig",
    "PhantomConfig",
    "TrainConfig",
]

PRESETS_DIR = Path(__file__).parent / "presets"

FusionMode = Literal[
    "hexplane",
    "anchor",
    "fixed_alpha",
    "learnable_alpha",
    "orthogonal",
    "reverse_orthogonal",
    "uncertainty",
    "uncertainty_gated",
    "bounded_perturb",
    "surrogate",
]
FUSION_MODES: tuple[str, ...] = typing.get_args(FusionMode)


def _ranges(cfg: object, spec: dict[str, dict[str, float]]) -> None:
    """Check every Literal field of ``cfg`` and the numeric ranges of ``spec`` (name -> bounds)."""
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):  # type: ignore[arg-type]
        tp = hints[f.name]
        if typing.get_origin(tp) is Literal and getattr(cfg, f.name) not in typing.get_args(tp):
            raise ValueError(
                f"'{f.name}' must be one of {list(typing.get_args(tp))}, "
                f"got {getattr(cfg, f.name)!r}"
            )
        value = getattr(cfg, f.name)
        if isinstance(value, float) and math.isinf(value):
            raise ValueError(f"'{f.name}' must be finite, got {value!r}")
    for name, bounds in spec.items():
        check_range(cfg, name, **bounds)


_POS = {"gt": 0}
_NONNEG = {"ge": 0}
_ONE = {"ge": 1}
_UNIT = {"ge": 0, "le": 1}


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
        _ranges(
            self,
            {
                "n_views": _ONE,
                "n_val": _NONNEG,
                "detector": {"ge": 4},
                "volume": {"ge": 4},
                "fov_mm": _POS,
                "DSD": _POS,
                "DSO": _POS,
                "scan_s": _POS,
                "total_angle_deg": _POS,
                "period_s": _POS,
                "amplitude_mm": _NONNEG,
                "period_jitter": _NONNEG,
                "amplitude_jitter": _NONNEG,
                "n_phases": _ONE,
                "photons": _NONNEG,
                "mu_water_mm": _POS,
                "oversample": _ONE,
                "phase_noise": _NONNEG,
                "sparse_stride": _ONE,
                "seed": _NONNEG,
            },
        )
        if self.n_views < self.sparse_stride:
            raise ValueError(
                f"'sparse_stride' {self.sparse_stride} keeps no view of {self.n_views}"
            )


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
        _ranges(
            self,
            {
                "n_init": _ONE,
                "init_threshold": {"ge": 0, "lt": 1},
                "init_density_factor": _POS,
                "init_scale": _POS,
                "max_gaussians": _ONE,
                "densify_from": _NONNEG,
                "densify_until": _NONNEG,
                "densify_every": _ONE,
                "densify_grad": _NONNEG,
                "split_scale_vox": _POS,
                "min_scale_vox": _NONNEG,
                "prune_density": _NONNEG,
                "max_scale_vox": _POS,
            },
        )


@dataclass(frozen=True)
class HexPlaneConfig:
    """Architecture of the HexPlane field (CPU-sized defaults; X² uses C=32/64 and [1,2,4,8])."""

    channels: int = 16
    """Feature channels C per plane and level."""
    resolution: int = 32
    """Base spatial resolution of the planes (cells per axis at level 1)."""
    time_resolution: int = 150
    """Time resolution of the planes (over the whole scan; ~8+ samples per breath)."""
    multires: tuple[int, ...] = (1, 2)
    """Spatial resolution multipliers of the levels."""
    hidden: int = 64
    """Width of the decoder MLP."""
    depth: int = 1
    """Number of hidden layers of the decoder MLP."""
    deform_scale: bool = True
    """Predict a change of log-scales."""
    deform_rotation: bool = True
    """Predict a change of the quaternions."""
    decoder_lr_ratio: float = 0.1
    """Learning rate of the decoder MLP and heads relative to the planes (4DGaussians: 0.1)."""

    def __post_init__(self) -> None:
        """Range checks."""
        _ranges(
            self,
            {
                "channels": _ONE,
                "resolution": {"ge": 2},
                "time_resolution": {"ge": 2},
                "multires": _ONE,
                "hidden": _ONE,
                "depth": _NONNEG,
                "decoder_lr_ratio": _NONNEG,
            },
        )
        if not self.multires:
            raise ValueError("'multires' needs at least one level")


@dataclass(frozen=True)
class FusionConfig:
    """Deformation model of the Gaussians: HexPlane, anchors, or a fusion (seed defaults)."""

    fusion_mode: FusionMode = "hexplane"
    """hexplane | anchor | fixed_alpha | learnable_alpha | orthogonal | reverse_orthogonal |
    uncertainty | uncertainty_gated | bounded_perturb | surrogate (anchors driven by a breathing
    signal extracted from the projections, `physx4dct.fusion.surrogate`; no HexPlane unless
    ``surrogate_residual``)."""
    hex_scale_rot: Literal["weighted", "full", "none"] = "weighted"
    """HexPlane log-scale/quaternion changes in fused modes: weighted (times the HexPlane
    weight, seed V5), full (unscaled) or none."""
    # --- anchor field (PhysX-Gaussian) ---
    num_anchors: int = 1024
    """Anchors chosen by farthest-point sampling of the initial Gaussian centres."""
    anchor_k: int = 10
    """Anchors each Gaussian is skinned to (KNN)."""
    anchor_temperature: float = 0.01
    """Skinning softmax temperature on squared distances (scene units^2)."""
    transformer_dim: int = 64
    """Width of the spacetime transformer."""
    transformer_heads: int = 4
    """Attention heads."""
    transformer_layers: int = 2
    """Transformer encoder layers."""
    anchor_time_embed_dim: int = 16
    """Fourier time encoding size (sin+cos of pi 2^j t, j < dim/2)."""
    anchor_time_encoding: Literal["fourier", "grid"] = "fourier"
    """Time input of the anchor tokens: fourier (fixed sin/cos bands, the seed's kind) or grid
    (a learnt code on a 1D time grid, initialised to the Fourier features, shared by all
    anchors and trained at the HexPlane grid lr times anchor_time_lr_scale)."""
    anchor_time_cells: int = 150
    """Cells of the learnt time grid over the scan (grid encoding)."""
    anchor_time_lr_scale: float = 1.0
    """Learning rate of the time grid relative to the HexPlane grid lr (grid encoding)."""
    lambda_time_grid: float = 1e-3
    """Second-difference smoothness of the time grid (as HexPlane's time_smooth)."""
    anchor_pos_bands: int = 4
    """Fourier bands (sin/cos of pi 2^j x, j < bands) of the anchor positions: the finest
    spatial detail of the anchor field is ~2^(1-bands) of the [-1,1] box."""
    anchor_pos_embed_dim: int = 32
    """Anchor position embedding size."""
    anchor_lr_scale: float = 0.1
    """Learning rate of the anchor network relative to the deformation (HexPlane grid) lr;
    0.1 is X²-Gaussian's network-to-grid ratio (2e-4 / 2e-3)."""
    mask_ratio: float = 0.25
    """Fraction of anchors replaced by the BERT mask token in the masked pass."""
    mask_seed: int = 0
    """Seed of the per-step mask draws (stateless in the step: exact resume)."""
    lambda_phys: float = 0.1
    """Physics-completion loss: L1 of masked-anchor predictions to the detached teacher."""
    phys_warmup_steps: int = 2000
    """Steps before the physics-completion loss starts."""
    lambda_anchor_smooth: float = 0.01
    """Anchor smoothness: mean squared displacement difference over the anchor KNN graph."""
    anchor_graph_k: int = 8
    """Neighbours per anchor in the smoothness graph."""
    lambda_consist: float = 0.0
    """Consistency: L1 of the masked pass to the detached unmasked teacher, all anchors."""
    lambda_anchor_time: float = 0.0
    """Temporal smoothness: mean |d(t+h) - 2 d(t) + d(t-h)|^2 of anchor displacements."""
    anchor_time_delta: float = 0.05
    """h of the temporal second difference (normalised time)."""
    st_mode: bool = False
    """Spatio-temporal (anchor, time) tokens with an additive mask-flag embedding."""
    lambda_lagbert: float = 0.5
    """Weight of the spatio-temporal masked-token L1 to the detached full pass."""
    st_window_size: int = 3
    """Time steps K of the spatio-temporal window (centred on t)."""
    st_time_delta: float = 0.1
    """Spacing of the window's time steps."""
    st_mask_ratio: float = 0.3
    """Fraction of (anchor, time) tokens flagged as masked."""
    st_mask_embed_scale: float = 1.0
    """Scale of the additive mask-flag embedding."""
    # --- alpha modes ---
    alpha: float = 0.99
    """Anchor weight a of fixed_alpha / orthogonal modes (a = 0: HexPlane, 1: anchors)."""
    alpha_init: float = 0.5
    """Initial a of learnable_alpha (a = sigmoid(logit))."""
    alpha_lr: float = 0.001
    """Learning rate of the alpha logit (own parameter group)."""
    lambda_balance: float = 0.0
    """Weight of the (a - 0.5)^2 regulariser of learnable_alpha."""
    ortho_strength: float = 1.0
    """Fraction of the gradient component removed by the orthogonal projection (1, the seed's,
    let `orthogonal` collapse on the phantom; 0.5 or `reverse_orthogonal` train stably)."""
    # --- uncertainty modes ---
    uncertainty_eps: float = 1e-6
    """e in the inverse-variance weights 1 / (sigma^2 + e)."""
    lambda_uncertainty: float = 0.5
    """Kendall loss weight: 0.5 |dx_hex - dx_anchor|^2 / S + 0.5 log S, S = s_h^2 + s_a^2."""
    uncertainty_init: float = 0.0
    """Initial log-variance of both branches."""
    eulerian_hidden_dim: int = 32
    """Hidden width of the Eulerian log-variance head s_E(x, t)."""
    gate_mode: Literal["bayes", "sigmoid"] = "bayes"
    """bayes: beta = s_L^2 / (s_L^2 + exp(s_E)); sigmoid: beta = sigmoid((tau - s_E) / lambda)."""
    sigma_L2: float = 0.01
    """Lagrangian variance of the Bayes gate (0.01 gives beta ~ 0.01 at s_E = 0)."""
    gate_tau: float = -4.6
    """Threshold of the sigmoid gate."""
    gate_lambda: float = 1.0
    """Temperature of the sigmoid gate and of the gamma perturbation."""
    beta_min: float = 0.0
    """Lower clamp of beta."""
    beta_max: float = 1.0
    """Upper clamp of beta."""
    lambda_gate: float = 0.0
    """Gate sparsity loss weight: mean |beta|."""
    gamma_max: float = 0.005
    """If > 0: beta = (1 - alpha) + gamma_max tanh((gamma_tau - s_E) / lambda) (seed M1.2)."""
    gamma_tau: float = 0.0
    """Centre of the gamma perturbation (gamma = 0 at s_E = gamma_tau)."""
    # --- bounded perturbation ---
    eps_max: float = 0.03
    """Bound of eps = eps_max sigmoid(rho)."""
    eps_init: float = 0.015
    """Initial eps."""
    rho_lr: float = 0.001
    """Learning rate of rho (own parameter group)."""
    residual_mode: Literal["identity", "tanh", "rmsnorm", "unitnorm"] = "identity"
    """H applied to dx_hex: identity | tanh | rmsnorm (per point) | unitnorm (per point)."""
    norm_eps: float = 1e-6
    """Stabiliser of the rms/unit normalisation."""
    schedule_mode: Literal["none", "freeze_rho", "warmup_cap"] = "freeze_rho"
    """none | freeze_rho (rho gets no gradient before eps_freeze_steps) | warmup_cap."""
    eps_freeze_steps: int = 2000
    """Steps rho stays frozen (freeze_rho)."""
    eps_warmup_steps: int = 5000
    """Steps of the linear cap eps <= eps_max step / steps (warmup_cap)."""
    # --- regularisers of the Eulerian residual ---
    lp_enable: bool = False
    """Low-frequency leakage penalty |LP(dx_hex)|^2."""
    lambda_lp: float = 0.01
    """Weight of the low-frequency leakage penalty."""
    lp_mode: Literal["knn_mean", "graph_laplacian"] = "knn_mean"
    """knn_mean: LP = neighbour mean; graph_laplacian: LP = x - neighbour mean."""
    lp_k: int = 8
    """Neighbours of the leakage operator."""
    lp_subsample: int = 2048
    """Points sampled per step for the leakage penalty (0 = all)."""
    decouple_enable: bool = False
    """Subspace decoupling: penalise alignment of Eulerian and Lagrangian responses."""
    lambda_decouple: float = 0.01
    """Weight of the decoupling loss."""
    decouple_mode: Literal["velocity_corr", "stochastic_jacobian_corr"] = "velocity_corr"
    """velocity_corr (time derivatives) | stochastic_jacobian_corr (random J v)."""
    decouple_subsample: int = 2048
    """Points sampled per step for the decoupling loss."""
    decouple_stopgrad_L: bool = True
    """Detach the Lagrangian response (train only the Eulerian branch)."""
    decouple_dt: float = 0.02
    """Time step of the finite-difference velocities."""
    decouple_use_squared_cos: bool = True
    """Penalise cos^2 instead of |cos|."""
    decouple_num_dirs: int = 1
    """Random directions of the stochastic Jacobian products."""
    decouple_fd_h: float = 1e-3
    """Finite-difference step of the Jacobian products (scene units)."""
    lambda_distill: float = 0.0
    """Eulerian-to-Lagrangian distillation (not in the seed; 0 = off): lambda mean
    |dx_anchor - sg(dx_hex)|^2 gives the anchor branch the HexPlane motion as a direct target."""
    # --- surrogate-driven anchors (fusion_mode: surrogate) ---
    surrogate_lr: float = 2e-3
    """Adam lr of the anchors' motion coefficients (scene units per unit of surrogate)."""
    surrogate_hysteresis: bool = True
    """Also drive the anchors by ds/dt (a loop instead of a line; McClelland's 2-signal model)."""
    surrogate_harmonics: int = 2
    """Fourier orders in the gantry angle removed from the edge profiles before the PCA."""
    surrogate_centre: bool = False
    """Drive the anchors by s - mean(s) (and ds/dt - its mean) over the scan, so zero motion is
    the time-averaged anatomy that the static coarse stage fits, not the exhale end s = 0."""
    surrogate_residual: bool = False
    """Add the HexPlane field's output (displacement, scale and rotation change at absolute
    time) to the surrogate motion: the surrogate carries the breathing, HexPlane what a
    1-signal model leaves (its smoothness losses apply as in the `hexplane` mode)."""

    def __post_init__(self) -> None:
        """Range checks and the cross-field rules of the fusion modes."""
        unit = ("alpha", "alpha_init", "mask_ratio", "st_mask_ratio", "beta_min", "beta_max")
        ones = (
            "num_anchors anchor_k transformer_dim transformer_heads transformer_layers "
            "anchor_time_embed_dim anchor_pos_bands anchor_pos_embed_dim anchor_graph_k "
            "st_window_size eulerian_hidden_dim lp_k decouple_num_dirs "
        ).split()
        positive = (
            "anchor_temperature anchor_time_delta st_time_delta uncertainty_eps sigma_L2 "
            "gate_lambda eps_max norm_eps decouple_dt decouple_fd_h "
        ).split()
        nonneg = (
            "anchor_time_lr_scale lambda_time_grid anchor_lr_scale mask_seed lambda_phys "
            "phys_warmup_steps lambda_anchor_smooth lambda_consist lambda_anchor_time "
            "lambda_lagbert st_mask_embed_scale alpha_lr lambda_balance ortho_strength "
            "lambda_uncertainty lambda_gate gamma_max rho_lr eps_freeze_steps "
            "eps_warmup_steps lambda_lp lp_subsample lambda_decouple decouple_subsample "
            "lambda_distill surrogate_lr surrogate_harmonics "
        ).split()
        spec = {n: _UNIT for n in unit} | {n: _ONE for n in ones}
        spec |= {n: _POS for n in positive} | {n: _NONNEG for n in nonneg}
        spec["anchor_time_cells"] = {"ge": 2}
        _ranges(self, spec)
        if not 0.0 < self.eps_init < self.eps_max:
            raise ValueError(
                f"'eps_init' must lie in (0, eps_max={self.eps_max}), got {self.eps_init}"
            )
        if self.transformer_dim % self.transformer_heads:
            raise ValueError("'transformer_dim' must be divisible by 'transformer_heads'")
        if self.beta_min > self.beta_max:
            raise ValueError("'beta_min' must not exceed 'beta_max'")


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
        spec = {n: _NONNEG for n in nonneg}
        _ranges(self, {**spec, "dssim": _UNIT, "tv_size": {"ge": 2}, "tv_every": _ONE})


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
        spec = {n: _NONNEG for n in lrs}
        spec |= {n: _ONE for n in ("iterations", "views_per_step", "log_every", "eval_every")}
        spec |= {"ckpt_every": _ONE, "budget": _ONE, "coarse_iterations": _NONNEG}
        spec |= {"lr_warmup": _NONNEG, "lr_floor": _UNIT, "period_init_s": _POS}
        spec |= {"patch": _NONNEG, "ema_start": {"ge": -1}, "ema_decay": {"ge": 0, "lt": 1}}
        _ranges(self, spec)


@dataclass(frozen=True)
class Config:
    """Everything ``physx4dct train`` needs (saved in config.yaml and every checkpoint)."""

    model: Literal["4d", "static"] = "4d"
    """4d (Gaussians + deformation) | static (R²-Gaussian 3D fit)."""
    seed: int = 0
    """Random seed."""
    dtype: Literal["float32", "float64"] = "float32"
    """float32 | float64."""
    data: DataConfig = field(default_factory=DataConfig)
    """The scan to reconstruct."""
    gaussians: GaussianConfig = field(default_factory=GaussianConfig)
    """Gaussian cloud."""
    hexplane: HexPlaneConfig = field(default_factory=HexPlaneConfig)
    """HexPlane deformation field."""
    fusion: FusionConfig = field(default_factory=FusionConfig)
    """Deformation model: HexPlane only, anchors only, or a fusion of both."""
    loss: LossConfig = field(default_factory=LossConfig)
    """Loss weights."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """Optimisation schedule."""
    phantom: PhantomConfig = field(default_factory=PhantomConfig)
    """Scan simulated by ``physx4dct phantom`` with this preset."""

    def __post_init__(self) -> None:
        """Range checks."""
        _ranges(self, {"seed": _NONNEG})


RESUME_SECTIONS = ("model", "dtype", "data", "gaussians", "hexplane", "fusion", "loss")
"""Config sections a ``--resume`` must not change (unless ``--allow-config-change``)."""
