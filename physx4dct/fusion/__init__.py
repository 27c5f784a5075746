"""Fusion of the HexPlane (Eulerian) field with the anchor-transformer (Lagrangian) field.

PhysX-4DCT (public fork loveberryc/GaussianSp of X²-Gaussian): a Gaussian centre x moves by

    dx = (1 - a) dx_hex + a dx_anchor                                   (fixed/learnable alpha)
    dx = (w_h dx_hex + w_a dx_anchor) / (w_h + w_a),  w = 1 / (sigma^2 + e)    (uncertainty)
    dx = (1 - beta) dx_anchor + beta dx_hex,  beta = gate(s_E) or (1 - a) + gamma(s_E)  (gated)
    dx = (1 - eps) dx_anchor + eps H(dx_hex),  eps = eps_max sigmoid(rho)   (bounded_perturb)

Recorded lessons kept as design rules: fusion stays a weighted average, tanh in H costs
~5 dB, a learnable eps must really be in the optimizer, alpha ~0.985-0.99 is best.
`FusionConfig` holds every option (seed defaults), `build_deformation` makes the module and
`fusion_cli_options` adds one Click flag per field to `physx4dct train`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import click
from torch import Tensor, nn

__all__ = [
    "FUSION_MODES",
    "FusionConfig",
    "build_deformation",
    "fusion_cli_options",
    "pop_fusion_overrides",
]

FUSION_MODES = (
    "hexplane",
    "anchor",
    "fixed_alpha",
    "learnable_alpha",
    "orthogonal",
    "reverse_orthogonal",
    "uncertainty",
    "uncertainty_gated",
    "bounded_perturb",
)
_CHOICES: dict[str, tuple[str, ...]] = {
    "fusion_mode": FUSION_MODES,
    "hex_scale_rot": ("weighted", "full", "none"),
    "anchor_time_encoding": ("fourier", "grid"),
    "gate_mode": ("bayes", "sigmoid"),
    "residual_mode": ("identity", "tanh", "rmsnorm", "unitnorm"),
    "schedule_mode": ("none", "freeze_rho", "warmup_cap"),
    "lp_mode": ("knn_mean", "graph_laplacian"),
    "decouple_mode": ("velocity_corr", "stochastic_jacobian_corr"),
}


@dataclass(frozen=True)
class FusionConfig:
    """Deformation model of the Gaussians: HexPlane, anchors, or a fusion (seed defaults)."""

    fusion_mode: str = "hexplane"
    """hexplane | anchor | fixed_alpha | learnable_alpha | orthogonal | reverse_orthogonal |
    uncertainty | uncertainty_gated | bounded_perturb."""
    hex_scale_rot: str = "weighted"
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
    anchor_time_encoding: str = "fourier"
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
    gate_mode: str = "bayes"
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
    residual_mode: str = "identity"
    """H applied to dx_hex: identity | tanh | rmsnorm (per point) | unitnorm (per point)."""
    norm_eps: float = 1e-6
    """Stabiliser of the rms/unit normalisation."""
    schedule_mode: str = "freeze_rho"
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
    lp_mode: str = "knn_mean"
    """knn_mean: LP = neighbour mean; graph_laplacian: LP = x - neighbour mean."""
    lp_k: int = 8
    """Neighbours of the leakage operator."""
    lp_subsample: int = 2048
    """Points sampled per step for the leakage penalty (0 = all)."""
    decouple_enable: bool = False
    """Subspace decoupling: penalise alignment of Eulerian and Lagrangian responses."""
    lambda_decouple: float = 0.01
    """Weight of the decoupling loss."""
    decouple_mode: str = "velocity_corr"
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

    def __post_init__(self) -> None:
        from common.config import ConfigError

        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"fusion.{name}: {getattr(self, name)!r} is not one of {', '.join(allowed)}"
                )
        for name in ("alpha", "alpha_init", "mask_ratio", "st_mask_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"fusion.{name}: must lie in [0, 1]")
        if not 0.0 < self.eps_init < self.eps_max:
            raise ConfigError("fusion.eps_init: must lie in (0, eps_max)")
        if self.transformer_dim % self.transformer_heads:
            raise ConfigError("fusion.transformer_dim: must be divisible by transformer_heads")
        if self.anchor_pos_bands < 1:
            raise ConfigError("fusion.anchor_pos_bands: must be >= 1")
        if self.anchor_time_cells < 2:
            raise ConfigError("fusion.anchor_time_cells: must be >= 2")
        if self.num_anchors < 1 or self.anchor_k < 1:
            raise ConfigError("fusion.num_anchors/anchor_k: must be >= 1")


def build_deformation(cfg: FusionConfig, hexplane: nn.Module, init_xyz: Tensor) -> nn.Module:
    """The deformation module of `cfg`: `hexplane` itself for "hexplane", else a fusion.

    init_xyz: (N, 3) initial canonical Gaussian centres in [-1,1]^3 (anchors are drawn from
    them by farthest-point sampling, detached).
    """
    if cfg.fusion_mode == "hexplane":
        return hexplane
    from physx4dct.fusion_ops import FusedDeformation

    return FusedDeformation(cfg, hexplane, init_xyz)


def _option_for(field: dataclasses.Field) -> Callable:
    """One Click option for a FusionConfig field (default None = not given)."""
    flag = "--" + field.name.replace("_", "-")
    doc = (_FIELD_DOCS.get(field.name) or field.name).replace("\n", " ")
    default = field.default
    if field.type in ("bool", bool):
        return click.option(
            f"{flag}/--no-{flag[2:]}",
            field.name,
            default=None,
            help=f"{doc} [config fusion.{field.name}, default {default}]",
        )
    kind: Any = {"int": int, "float": float}.get(str(field.type), str)
    if field.name in _CHOICES:
        kind = click.Choice(_CHOICES[field.name])
    return click.option(
        flag,
        field.name,
        type=kind,
        default=None,
        help=f"{doc} [config fusion.{field.name}, default {default}]",
    )


def fusion_cli_options(f: Callable) -> Callable:
    """Click decorator adding `--fusion-mode` and one flag per FusionConfig field.

    Every option defaults to None ("not given"); the parameter name is the field name, so
    `pop_fusion_overrides(kwargs)` turns the given ones into "fusion.<field>" overrides.
    """
    for field in reversed(dataclasses.fields(FusionConfig)):
        f = _option_for(field)(f)
    return f


def pop_fusion_overrides(kwargs: dict[str, Any]) -> Mapping[str, Any]:
    """Remove the fusion options from a Click kwargs dict -> {"fusion.<field>": value}."""
    out = {}
    for field in dataclasses.fields(FusionConfig):
        value = kwargs.pop(field.name, None)
        if value is not None:
            out[f"fusion.{field.name}"] = value
    return out


def _field_docs() -> dict[str, str]:
    """Attribute docstrings of FusionConfig (the string literal after each field)."""
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(FusionConfig)))
    except (OSError, TypeError):  # source unavailable (zipapp, frozen)
        return {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr):
            if isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                docs[node.target.id] = " ".join(nxt.value.value.split())  # type: ignore[union-attr]
    return docs


_FIELD_DOCS = _field_docs()
