"""Checks on a checkpoint before its weights are used: a foreign, damaged or hostile file is
refused with one line naming it (``common.checkpoint.load_checkpoint``), and so are non-finite
weights and a missing config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def read_checkpoint(path: Path) -> dict[str, Any]:
    """``load_checkpoint`` (which refuses foreign files and pickle payloads) plus the checks
    ionofield needs before using the weights: finite values and a stored config.
    """
    from common.checkpoint import CheckpointError, load_checkpoint

    ckpt = load_checkpoint(path)
    for section in ("model", "optimizer"):
        bad = _non_finite(ckpt.get(section))
        if bad:
            raise CheckpointError(f"NaN/Inf values in {section} state '{bad}'", path=path)
    if not isinstance(ckpt.get("config"), dict):
        raise CheckpointError("no config stored in the checkpoint", path=path)
    return ckpt


def check_fits(model: torch.nn.Module, state: Any) -> None:
    """A clear message when stored weights do not match the network their config builds."""
    from common.checkpoint import CheckpointError

    own = model.state_dict()
    state = state if isinstance(state, dict) else {}
    missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or extra or shapes:
        what = (
            f"missing weights '{missing[0]}'"
            if missing
            else f"unexpected weights '{extra[0]}'"
            if extra
            else f"'{shapes[0]}' has shape {tuple(state[shapes[0]].shape)}, "
            f"its config builds {tuple(own[shapes[0]].shape)}"
        )
        raise CheckpointError(f"weights do not fit the stored config: {what}")


def _non_finite(state: Any, prefix: str = "") -> str:
    """Name of the first tensor in a (nested) state dict holding NaN/Inf, or ''."""
    if isinstance(state, torch.Tensor):
        ok = not state.is_floating_point() or bool(torch.isfinite(state).all())
        return "" if ok else prefix or "tensor"
    if not isinstance(state, (dict, list, tuple)):
        return ""
    for key, value in state.items() if isinstance(state, dict) else enumerate(state):
        bad = _non_finite(value, f"{prefix}.{key}" if prefix else str(key))
        if bad:
            return bad
    return ""
