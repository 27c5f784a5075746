"""common: the small shared layer of the physics-ML tools.

Seeding, device and dtype handling, layered configs, atomic checkpoints, torchrun/DDP set-up,
progress logging that stays readable under ``nohup``, and signal-safe training. No ML logic
lives here, and nothing here imports a tool.
"""

__all__ = [
    "checkpoint",
    "config",
    "device",
    "distributed",
    "io",
    "options",
    "progress",
    "rundir",
    "seeding",
    "signals",
]
