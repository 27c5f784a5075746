"""Configuration of fcpredict: frozen dataclasses, filled by common.config.load_config from
defaults < presets/<name>.yaml < --config FILE < CLI options < --set a.b=value.

Every numeric field has a range checked in ``__post_init__`` (common.config.check_range), and
every choice is a ``typing.Literal`` that load_config validates, so a typo or an impossible
value is refused up front with one line naming the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from common.config import check_range
from fcpredict.backbone_names import Backbone

PRESETS_DIR = Path(__file__).parent / "presets"

__all__ = ["ModelConfig", "DataConfig", "TrainConfig", "Config", "PRESETS_DIR"]

_INF = math.inf


@dataclass(frozen=True)
class ModelConfig:
    """Energy model hyper-parameters."""

    kind: Literal["equiformer", "transformer", Backbone] = "equiformer"
    """'equiformer' (E(3)-equivariant attention), 'transformer' (non-equivariant baseline) or a
    pretrained SevenNet from the sevenn wheel (:data:`fcpredict.backbones.BACKBONES`; the
    fields below are ignored)."""
    irreps_node_embedding: str = "128x0e+64x1o+32x2e"
    """Node feature irreps; vectors are polar (1o), rank-2 tensors 2e."""
    num_layers: int = 4
    """Number of attention + feed-forward blocks."""
    num_heads: int = 4
    """Attention heads; every multiplicity of the node irreps must be divisible by it."""
    lmax: int = 2
    """Maximum degree of the edge spherical harmonics."""
    cutoff: float = 5.0
    """Radial cutoff in Angstrom (smooth C2 polynomial envelope)."""
    num_rbf: int = 32
    """Number of Gaussian radial basis functions."""
    radial_hidden: int = 64
    """Hidden width of the radial MLP and the energy head."""
    ffn_mult: int = 2
    """Width multiplier of the gated feed-forward block."""
    hidden_dim: int = 64
    """Node width of the non-equivariant baseline (kind='transformer')."""
    attn_dropout: float = 0.0
    """Dropout probability on the attention weights only."""
    energy_scale: float = 1.0
    """Global scale of the per-atom energy head output (eV, > 0); the per-element scale is
    calibrated from the training data before training starts."""
    max_z: int = 100
    """Largest atomic number the embedding covers."""

    def __post_init__(self) -> None:
        for name in ("num_layers", "num_heads", "num_rbf", "radial_hidden", "ffn_mult"):
            check_range(self, name, gt=0)
        for name in ("hidden_dim", "max_z"):
            check_range(self, name, gt=0)
        check_range(self, "lmax", ge=0, le=6)
        check_range(self, "cutoff", gt=0, lt=_INF)
        check_range(self, "attn_dropout", ge=0, lt=1)
        check_range(self, "energy_scale", gt=0, lt=_INF)


@dataclass(frozen=True)
class DataConfig:
    """Where training data come from and how they are split."""

    dirs: tuple[str, ...] = ()
    """Phonopy folders or parents of phonopy folders (from `fcpredict make-data` or DFT)."""
    exclude: tuple[str, ...] = ()
    """Folder names left out of training (e.g. the held-out material)."""
    val_fraction: float = 0.15
    """Fraction of the folders used for validation (at least one when >= 2 folders and
    the fraction is > 0; 0 = train on every folder and validate on the training set)."""
    max_displacements: int = 8
    """Displaced supercells (force targets) kept per folder; 0 = none."""

    def __post_init__(self) -> None:
        check_range(self, "val_fraction", ge=0, lt=1)
        check_range(self, "max_displacements", ge=0)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings."""

    steps: int = 2000
    """Optimizer steps."""
    batch_size: int = 4
    """Structures per step (per rank)."""
    lr: float = 2e-3
    """Peak AdamW learning rate (warm-up, then cosine decay to lr * lr_min_factor)."""
    lr_min_factor: float = 0.02
    """Final learning rate as a fraction of lr (the floor of common.schedule.warmup_cosine)."""
    warmup_steps: int = 50
    """Linear warm-up steps."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    grad_clip: float = 10.0
    """Gradient-norm clipping threshold (0 = off)."""
    ema_decay: float = 0.99
    """Largest EMA decay (0 = off). The decay used at update n is min(ema_decay,
    (1 + n) / (10 + n)), so the average does not lag behind a short run. At every
    validation the raw and the EMA weights are both scored; the better one is what
    checkpoints mark as the predictor that `predict` loads."""
    w_energy: float = 1.0
    """Base weight of the per-atom energy MSE (eV^2)."""
    w_forces: float = 1.0
    """Base weight of the force MSE ((eV/A)^2)."""
    w_fc: float = 1.0
    """Base weight of the relative Frobenius loss of the force-constant rows."""
    w_eigen: float = 0.5
    """Base weight of the eigen loss at commensurate q points (residual of the reference
    eigenpairs on the sampled rows; runs whenever force-constant rows are drawn)."""
    adaptive: bool = True
    """Divide each term by the running mean of its own value (adaptive combination)."""
    fc_rows: int = 0
    """Hessian rows per structure used in the FC loss (0 = all 3 n_prim rows); rounded up to
    whole primitive atoms, drawn at random each step."""
    rotate: bool = False
    """Random rotation augmentation of structures and their targets."""
    eval_every: int = 50
    """Validation and checkpoint interval (steps)."""
    log_every: int = 10
    """Metrics logging interval (steps)."""
    dtype: Literal["float32", "float64"] = "float32"
    """Training dtype."""

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_every", "log_every"):
            check_range(self, name, gt=0)
        for name in ("warmup_steps", "fc_rows"):
            check_range(self, name, ge=0)
        check_range(self, "lr", gt=0, lt=_INF)
        check_range(self, "lr_min_factor", ge=0, le=1)
        check_range(self, "ema_decay", ge=0, lt=1)
        for name in ("weight_decay", "grad_clip", "w_energy", "w_forces", "w_fc", "w_eigen"):
            check_range(self, name, ge=0, lt=_INF)


@dataclass(frozen=True)
class Config:
    """Full fcpredict configuration (saved in every checkpoint and output)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
    """Random seed."""

    def __post_init__(self) -> None:
        check_range(self, "seed", ge=0)
