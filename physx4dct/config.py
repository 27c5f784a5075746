"""Configuration dataclasses of physx4dct (frozen; presets in ``physx4dct/presets/*.yaml``).

`Config` is what ``physx4dct train`` reads (``--preset``, ``--config``, options,
``--set a.b=v``); its ``phantom`` section is what ``physx4dct phantom`` reads. This module
owns the top level (`Config`, `RESUME_SECTIONS`, `PRESETS_DIR`) and exports every section;
each section lives in its own module of `physx4dct.sections`. Every numeric field has a
range (`common.config.check_range`), every choice is a ``typing.Literal``, so a bad value is
refused before anything runs, in one line naming the key. This module imports neither torch
nor numpy: the CLI reads the choices from here at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from physx4dct.sections.checks import NONNEG, check_fields
from physx4dct.sections.deformation import FUSION_MODES, FusionConfig, HexPlaneConfig
from physx4dct.sections.gaussians import GaussianConfig
from physx4dct.sections.loss import LossConfig
from physx4dct.sections.scan import DataConfig, PhantomConfig
from physx4dct.sections.train import TrainConfig

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
"""Directory of the presets (``--preset NAME`` reads ``NAME.yaml``)."""


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
        check_fields(self, {"seed": NONNEG})


RESUME_SECTIONS = ("model", "dtype", "data", "gaussians", "hexplane", "fusion", "loss")
"""Config sections a ``--resume`` must not change (unless ``--allow-config-change``)."""
