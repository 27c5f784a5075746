"""Averaged weights of a Gaussian fit (Polyak / exponential moving average).

A fit sees one noisy projection per iteration, so its last iterate carries the noise of the
last few views. The saved model can instead be an average of the iterates from a start step
on: the running mean first, an exponential moving average once ``1 / count`` falls below
``1 - decay`` (so the average is never biased towards its zero start). Densification
changes the parameter shapes; an average whose shapes no longer match restarts.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class ParamAverage:
    """Exponential moving average of a model's parameters (bias-free warm start)."""

    def __init__(self, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.count = 0
        self.avg: dict[str, Tensor] = {}

    def _matches(self, params: dict[str, Tensor]) -> bool:
        return params.keys() == self.avg.keys() and all(
            self.avg[k].shape == p.shape for k, p in params.items()
        )

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Add the model's current parameters to the average."""
        params = {k: p.detach() for k, p in model.named_parameters()}
        if not self._matches(params):
            self.avg = {k: p.clone() for k, p in params.items()}
            self.count = 1
            return
        self.count += 1
        w = max(1.0 - self.decay, 1.0 / self.count)
        for k, p in params.items():
            self.avg[k].lerp_(p, w)

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> None:
        """Overwrite the model's parameters with the average (shapes must match)."""
        params = dict(model.named_parameters())
        if not self._matches({k: p.detach() for k, p in params.items()}):
            raise ValueError("the averaged weights do not match the model's parameter shapes")
        for k, p in params.items():
            p.copy_(self.avg[k])

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint stores to resume the average."""
        return {"decay": self.decay, "count": self.count, "avg": dict(self.avg)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ParamAverage:
        """The average a checkpoint stored (`state_dict`), decay included."""
        average = cls(float(state["decay"]))
        average.load_state_dict(state)
        return average

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict`."""
        self.decay, self.count = float(state["decay"]), int(state["count"])
        self.avg = {k: v.clone() for k, v in state["avg"].items()}
