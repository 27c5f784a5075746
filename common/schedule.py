"""Learning-rate schedule shared by every tool: linear warm-up, then cosine decay to a floor.

factor(s) = (s + 1) / warmup                                   for s < warmup
factor(s) = floor + (1 - floor) * (1 + cos(pi * p)) / 2,  p = (s - warmup) / (total - warmup)
"""

from __future__ import annotations

import math

import torch


def warmup_cosine(step: int, total: int, warmup: int = 0, floor: float = 0.1) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based) of a ``total``-step run."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(total - warmup, 1)
    progress = min(max(step - warmup, 0) / span, 1.0)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine_scheduler(
    optimizer: torch.optim.Optimizer, total: int, warmup: int = 0, floor: float = 0.1
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` applying :func:`warmup_cosine`; its state goes into checkpoints."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, total, warmup, floor)
    )
