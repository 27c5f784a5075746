"""Run directories: ``config.yaml`` (resolved), ``metrics.jsonl``, ``checkpoints/``, outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common.config import save_yaml


def prepare_run_dir(run_dir: str | Path, cfg: Any, is_main: bool = True) -> Path:
    """Create the run directory and its ``checkpoints/``; rank 0 writes ``config.yaml``."""
    path = Path(run_dir)
    if is_main:
        (path / "checkpoints").mkdir(parents=True, exist_ok=True)
        save_yaml(cfg, path / "config.yaml")
    return path


def last_checkpoint(run_dir: str | Path) -> Path:
    """Path of the checkpoint ``--resume`` continues from."""
    return Path(run_dir) / "checkpoints" / "last.pt"


def best_checkpoint(run_dir: str | Path) -> Path:
    """Path of the best-so-far checkpoint."""
    return Path(run_dir) / "checkpoints" / "best.pt"
