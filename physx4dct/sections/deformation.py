"""The deformation sections: ``hexplane`` (the HexPlane field) and ``fusion`` (HexPlane,
anchors, or a fusion of both; `FUSION_MODES`).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal

from physx4dct.sections.checks import NONNEG, ONE, POS, UNIT, check_fields

__all__ = ["FUSION_MODES", "FusionConfig", "FusionMode", "HexPlaneConfig"]

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
"""The deformation models ``fusion.fusion_mode`` may name (``--fusion-mode``)."""


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
        check_fields(
            self,
            {
                "channels": ONE,
                "resolution": {"ge": 2},
                "time_resolution": {"ge": 2},
                "multires": ONE,
                "hidden": ONE,
                "depth": NONNEG,
                "decoder_lr_ratio": NONNEG,
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
    surrogate_refine_lr: float = 0.0
    """Adam lr of a learned correction to s on the stored time grid (0 = the extracted signal
    is kept as is). The extracted s is a linear read-out of edge profiles, off by ~0.15 of
    the breathing amplitude per view; a noisy regressor shrinks the fitted motion toward the
    mean (errors-in-variables), most at end-exhale and end-inhale. One scalar per grid time,
    fitted to the ~4 views around it, moves only along the anchors' motion pattern."""
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
            "lambda_distill surrogate_lr surrogate_harmonics surrogate_refine_lr "
        ).split()
        spec = {n: UNIT for n in unit} | {n: ONE for n in ones}
        spec |= {n: POS for n in positive} | {n: NONNEG for n in nonneg}
        spec["anchor_time_cells"] = {"ge": 2}
        check_fields(self, spec)
        if not 0.0 < self.eps_init < self.eps_max:
            raise ValueError(
                f"'eps_init' must lie in (0, eps_max={self.eps_max}), got {self.eps_init}"
            )
        if self.transformer_dim % self.transformer_heads:
            raise ValueError("'transformer_dim' must be divisible by 'transformer_heads'")
        if self.beta_min > self.beta_max:
            raise ValueError("'beta_min' must not exceed 'beta_max'")
