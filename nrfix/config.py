"""Typed configuration of nrfix (frozen dataclasses; presets in ``nrfix/presets/*.yaml``).

Choices are ``Literal`` types and numbers are range-checked in ``__post_init__``, so
``common.config.load_config`` refuses a typo or an impossible size in one line naming the key
before anything runs. This module imports no torch (the CLI's ``--help`` stays instant).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from common.config import check_range

PRESETS_DIR = Path(__file__).parent / "presets"

Family = Literal["schwarzschild", "kerr_schild", "brill_lindquist", "bowen_york", "mix"]
MIN_CELLS = 5
"""Smallest grid/crop per axis the 4th-order stencils (2 ghost cells each side) accept."""


@dataclass(frozen=True)
class DataConfig:
    """Analytic training/validation data (Bowen-York families unless ``family`` says otherwise)."""

    family: Family = "bowen_york"
    """One of schwarzschild, kerr_schild, brill_lindquist, bowen_york, or mix (Bowen-York,
    warped Bowen-York, Kerr-Schild single and superposed, at ``grid`` and ``grid`` + 4 cells:
    two dx; :func:`nrfix.data.mix_params`)."""
    n_train: int = 24
    """Number of random training configurations (full grids)."""
    n_val: int = 4
    """Number of validation configurations (different seed stream from training)."""
    grid: int = 40
    """Cells per axis of each generated grid (ghost cells included)."""
    box: float = 8.0
    """Side length of the cubic domain (code units, M ~ 1); dx = box / grid."""
    crop: int = 24
    """Training crop size per axis (cells, including the 2 ghost cells each side)."""
    max_punctures: int = 2
    """Punctures per configuration: uniform in 1..max_punctures."""
    mass_min: float = 0.3
    """Smallest bare mass m_a."""
    mass_max: float = 0.7
    """Largest bare mass m_a."""
    momentum_max: float = 0.3
    """Largest |P_a| (Bowen-York linear momentum)."""
    spin_max: float = 0.2
    """Largest |S_a| (Bowen-York spin)."""
    position_max: float = 1.5
    """Punctures are placed uniformly in [-position_max, position_max]^3."""
    transform_eps: float = 0.0
    """Amplitude of the smooth coordinate transformation (0 = Cartesian, h_ij flat)."""
    seed: int = 1234
    """Seed of the data generator (train uses stream 0, validation stream 1)."""

    def __post_init__(self) -> None:
        for name in ("n_train", "n_val", "max_punctures"):
            check_range(self, name, ge=1)
        for name in ("grid", "crop"):
            check_range(self, name, ge=MIN_CELLS)
        for name in ("box", "mass_min"):
            check_range(self, name, gt=0)
        check_range(self, "mass_max", ge=self.mass_min)
        for name in ("momentum_max", "spin_max", "position_max", "transform_eps", "seed"):
            check_range(self, name, ge=0)
        check_range(self, "crop", le=self.grid)


@dataclass(frozen=True)
class ModelConfig:
    """RCAB3D/CBAM correction network."""

    channels: int = 24
    """Hidden channels C."""
    blocks: int = 4
    """Number of RCAB3D blocks N."""
    reduction: int = 4
    """Channel-attention MLP reduction ratio (C -> C/reduction -> C)."""
    dilations: tuple[int, ...] = ()
    """Dilation of block i's convolutions: dilations[i % len] (() = 1: local 3^3 stencils);
    e.g. (1, 2, 4) widens the receptive field for the nonlocal conformal-factor correction."""
    output_operator: Literal["additive", "poisson"] = "additive"
    """additive: y = x + m r s (the plain network) | poisson: the chi channel of m r s is the
    source of the conformal-factor correction u = L^-1(m r s), psi -> psi + u (free-space FFT
    inverse of the 4th-order Laplacian; the other channels stay additive)."""
    source_prior: bool = False
    """poisson only: the chi source is dx^2 f(x) (g + r_chi scaling_factor), f the linearised
    Bowen-York source -(1/8) chi^(-5/4) A_ij A^ij and g a learnable gain starting at 0, so the
    network learns a relative correction to a physics prior (``train.gain_lr``)."""
    scaling_factor: float = 0.01
    """Output y = x + mask * r(x) * scaling_factor."""
    res_scale_start: float = 0.1
    """Residual scale of the blocks at step 0 (x + res_scale * CBAM(...))."""
    res_scale_end: float = 1.0
    """Residual scale reached at the end of training (linear schedule); used at inference."""
    mask_percentage: float = 0.0
    """Fraction (0..0.5) of cells per face where the correction is smoothly switched off."""
    correct_vars: tuple[str, ...] = ("chi",)
    """Variables the network may change (others pass through exactly); 'all' = every variable."""
    conformal_rescale_a: bool = True
    """Rescale A_ij by (chi_new/chi_old)^(3/2) so a conformal-factor change keeps Mom (CTT)."""
    compute_dtype: Literal["float64", "float32"] = "float64"
    """Precision of the convolutions (float64 | float32). Data, residual sum, projection and
    constraints always stay float64; float32 convs are ~10x faster on CPUs."""
    on_prior: bool = False
    """The network corrects the output of the residual-driven prior (``prior_iterations``
    Newton steps, :mod:`nrfix.newton`) in the cells that prior holds fixed (excision and its
    buffer beside the punctures) and nowhere else (``nrfix.prior_train``)."""
    prior_iterations: int = 2
    """on_prior: Newton steps of the prior before the network."""
    relax_steps: int = 0
    """on_prior: > 0 replaces the network by the learned relaxation of the held cells
    (:mod:`nrfix.relax`): this many unrolled preconditioned gradient steps whose step sizes
    are the trained parameters."""
    chi_floor: float = 1e-4
    """Projection keeps chi >= chi_floor."""
    lapse_floor: float = 1e-4
    """Projection keeps the lapse >= lapse_floor."""

    def __post_init__(self) -> None:
        for name in ("channels", "reduction", "dilations"):
            check_range(self, name, ge=1)
        check_range(self, "blocks", ge=0)
        for name in ("scaling_factor", "chi_floor", "lapse_floor"):
            check_range(self, name, gt=0)
        for name in ("res_scale_start", "res_scale_end"):
            check_range(self, name, ge=0)
        check_range(self, "mask_percentage", ge=0, le=0.5)
        if not self.correct_vars:
            raise ValueError("'correct_vars' must name at least one variable (or 'all')")
        if self.source_prior and self.output_operator != "poisson":
            raise ValueError("'source_prior' needs output_operator: poisson")
        check_range(self, "prior_iterations", ge=1)
        check_range(self, "relax_steps", ge=0)
        if self.relax_steps and not self.on_prior:
            raise ValueError("'relax_steps' needs on_prior: true")
        if self.on_prior and self.output_operator != "additive":
            raise ValueError("'on_prior' needs output_operator: additive")


@dataclass(frozen=True)
class LossConfig:
    """Constraint loss."""

    mode: Literal["logscale_dynamic", "uncertainty", "improvement", "log_ratio"] = "improvement"
    """logscale_dynamic | uncertainty | improvement | log_ratio (a model ``on_prior`` has its
    own loss: :func:`nrfix.prior_train.prior_loss`)."""
    mom_weight: float = 1.0
    """Weight of the momentum term relative to the Hamiltonian term."""
    data_weight: float = 1e-2
    """Weight of ||y_hat - x||^2 (improvement mode; also added in the others when > 0)."""
    ratio_floor: float = 0.1
    """Improvement mode: each ratio's denominator is at least ratio_floor x the global input
    scale of the training data (stops near-constraint-free crops from blowing the loss up)."""
    log_floor: float = 1e-3
    """log_ratio mode: |Ham| below log_floor x the crop's input RMS counts as fully solved."""
    chi_excision: float = 0.05
    """Cells with chi below this are excised from losses and norms (punctures)."""
    cell_weight: float = 0.5
    """on_prior models: weight of the cell-wise log-ratio term next to the log RMS ratios of
    Ham and Mom; cells are floored at 1% of the prior's mean square, so the cells the prior
    solved to ~1e-10 do not dominate its gradient."""

    def __post_init__(self) -> None:
        check_range(self, "cell_weight", ge=0)
        for name in ("mom_weight", "data_weight"):
            check_range(self, name, ge=0)
        for name in ("ratio_floor", "log_floor"):
            check_range(self, name, gt=0)
        check_range(self, "chi_excision", ge=0, lt=1)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation."""

    steps: int = 2000
    """Optimizer steps."""
    batch_size: int = 2
    """Crops per step (per process)."""
    lr: float = 1e-3
    """AdamW learning rate (warm-up, then cosine decay to ``lr_floor`` x lr at ``steps``)."""
    lr_floor: float = 0.1
    """Final learning rate as a fraction of lr (``common.schedule.warmup_cosine``)."""
    gain_lr: float = 0.02
    """Learning rate of the scalar gain g of ``model.source_prior`` (same schedule as lr)."""
    warmup_steps: int = 0
    """Linear learning-rate warm-up from lr/warmup_steps to lr over the first steps."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    grad_clip: float = 1.0
    """Gradient-norm clip (0 = off)."""
    ckpt_every: int = 100
    """Steps between checkpoints (last.pt) and validations (best.pt)."""
    select_by: Literal["loss", "ham_median", "guarded_gain"] = "loss"
    """What best.pt minimises on the validation grids: loss | ham_median (median |Ham|
    after/before; the log_ratio loss is a geometric mean) | guarded_gain (on_prior models:
    the mean log10 after/before of the four norms the refusal rule guards, median and RMS of
    |Ham| and ||Mom||, on the input's cells: the benchmark's headline for the learned part)."""
    log_every: int = 10
    """Steps between metrics.jsonl rows."""
    seed: int = 0
    """Seed of initialisation and crop sampling."""
    device: str = "auto"
    """auto | cpu | cuda | cuda:N (``fit(device=...)`` other than auto wins over it)."""

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "ckpt_every", "log_every"):
            check_range(self, name, ge=1)
        for name in ("lr", "gain_lr"):
            check_range(self, name, gt=0)
        for name in ("warmup_steps", "weight_decay", "grad_clip", "seed"):
            check_range(self, name, ge=0)
        check_range(self, "lr_floor", ge=0, le=1)


@dataclass(frozen=True)
class Config:
    """Everything a run needs; saved in config.yaml, in every checkpoint and output file."""

    data: DataConfig = field(default_factory=DataConfig)
    """Data generation."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Network."""
    loss: LossConfig = field(default_factory=LossConfig)
    """Loss."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """Optimisation."""
