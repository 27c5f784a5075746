"""Range checks shared by the config sections (`physx4dct.config`): every ``typing.Literal``
field must hold one of its choices, every float must be finite, and the numeric fields named
in a spec must lie in their bounds (`common.config.check_range`).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Literal

from common.config import check_range

__all__ = ["NONNEG", "ONE", "POS", "UNIT", "check_fields"]

POS = {"gt": 0}
"""Bounds of a positive field."""
NONNEG = {"ge": 0}
"""Bounds of a non-negative field."""
ONE = {"ge": 1}
"""Bounds of a count of at least one."""
UNIT = {"ge": 0, "le": 1}
"""Bounds of a fraction in [0, 1]."""


def check_fields(cfg: object, spec: dict[str, dict[str, float]]) -> None:
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
