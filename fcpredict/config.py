"""Configuration of fcpredict: frozen dataclasses, filled by common.config.load_config from
defaults < presets/<name>.yaml < --config FILE < CLI options < --set a.b=value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PRESETS_DIR = Path(__file__).parent / "presets"

__all__ = ["ModelConfig", "DataConfig", "TrainConfig", "Config", "PRESETS_DIR"]


@dataclass(frozen=True)
class ModelConfig:
    """Energy model hyper-parameters."""

    kind: str = "equiformer"
    """'equiformer' (E(3)-equivariant attention) or 'transformer' (non-equivariant baseline)."""
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
    """Scale of the per-atom energy head output (eV)."""
    max_z: int = 100
    """Largest atomic number the embedding covers."""


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


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings."""

    steps: int = 2000
    """Optimizer steps."""
    batch_size: int = 4
    """Structures per step (per rank)."""
    lr: float = 2e-3
    """Peak AdamW learning rate (cosine decay to lr * lr_min_factor)."""
    lr_min_factor: float = 0.02
    """Final learning rate as a fraction of lr."""
    warmup_steps: int = 50
    """Linear warm-up steps."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    grad_clip: float = 10.0
    """Gradient-norm clipping threshold (0 = off)."""
    ema_decay: float = 0.99
    """EMA decay of the weights used for validation and saved as the predictor (0 = off)."""
    w_energy: float = 1.0
    """Base weight of the per-atom energy MSE (eV^2)."""
    w_forces: float = 1.0
    """Base weight of the force MSE ((eV/A)^2)."""
    w_fc: float = 1.0
    """Base weight of the relative Frobenius loss of the force-constant rows."""
    w_eigen: float = 0.5
    """Base weight of the eigen loss at commensurate q points (needs all rows)."""
    adaptive: bool = True
    """Divide each term by the running mean of its own value (adaptive combination)."""
    fc_rows: int = 0
    """Hessian rows per structure used in the FC loss (0 = all 3 n_prim rows)."""
    rotate: bool = False
    """Random rotation augmentation of structures and their targets."""
    eval_every: int = 50
    """Validation and checkpoint interval (steps)."""
    log_every: int = 10
    """Metrics logging interval (steps)."""
    dtype: str = "float32"
    """Training dtype."""


@dataclass(frozen=True)
class Config:
    """Full fcpredict configuration (saved in every checkpoint and output)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
    """Random seed."""
