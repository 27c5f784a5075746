"""The names of the pretrained backbones, in one torch-free place.

:data:`Backbone` is the ``typing.Literal`` that configs annotate with (``ModelConfig.kind``,
``FinetuneConfig.backbone``; a Literal nested in another flattens, so load_config checks the
choice), :data:`BACKBONE_NAMES` the same names as a tuple for the CLI's ``--backbone`` choice
(``fcpredict --help`` must not import torch) and for :data:`fcpredict.backbones.BACKBONES`,
whose loader table is checked against it by the tests.
"""

from __future__ import annotations

import typing
from typing import Literal

__all__ = ["Backbone", "BACKBONE_NAMES"]

Backbone = Literal[
    "sevennet-0",
    "sevennet-l3i5",
    "sevennet-mf-0",
    "sevennet-mf-0-r2scan",
    "sevennet-0-22may2024",
]
"""A pretrained backbone name (see :data:`fcpredict.backbones.BACKBONES`)."""

BACKBONE_NAMES: tuple[str, ...] = typing.get_args(Backbone)
"""The names of :data:`Backbone`, in order."""
