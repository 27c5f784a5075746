"""Atomic, self-describing, resumable checkpoints.

A checkpoint holds everything to continue a run bit for bit and to rebuild its model: schema
version, step, the resolved config dict, model (unwrapped from DDP), optimizer, scheduler,
EMA and every RNG state. It is written to a temporary file and renamed, so a writer killed
half way leaves the previous checkpoint intact; it is read with ``weights_only=True`` so a
checkpoint cannot execute code.
"""

from __future__ import annotations

import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import torch

from common.distributed import unwrap
from common.errors import UserError
from common.io import atomic_path
from common.seeding import get_rng_state, set_rng_state

SCHEMA = "physics-ml-checkpoint/1"


class CheckpointError(UserError):
    """A checkpoint is missing, corrupt, or not one of ours."""


def _state(obj: Any) -> Any:
    return None if obj is None else obj.state_dict()


def save_checkpoint(
    path: str | Path,
    *,
    step: int,
    config: dict[str, Any],
    model: torch.nn.Module,
    optimizer: Any = None,
    scheduler: Any = None,
    ema: Any = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (call on rank 0 only). Returns the path written."""
    payload = {
        "schema": SCHEMA,
        "step": int(step),
        "config": config,
        "model": unwrap(model).state_dict(),
        "optimizer": _state(optimizer),
        "scheduler": _state(scheduler),
        "ema": _state(unwrap(ema) if isinstance(ema, torch.nn.Module) else ema),
        "rng": get_rng_state(),
        "extra": extra or {},
        "torch_version": str(torch.__version__),
    }
    target = Path(path)
    with atomic_path(target) as tmp:
        torch.save(payload, tmp)
    return target


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint safely; a one-line :class:`CheckpointError` for a bad or foreign file.

    A checkpoint is a ``torch.save`` zip archive: anything else (empty, truncated, a bare
    pickle, another format) is refused before torch reads a byte. A zip holding objects other
    than tensors and plain data is refused by torch's ``weights_only`` loader without running
    them; torch's hint to retry with ``weights_only=False`` is deliberately not passed on.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("checkpoint not found", path=path)
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            "not a physics-ml checkpoint (not a torch.save zip archive: empty, truncated or "
            "another kind of file)",
            path=path,
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights_only" not in str(exc) and "Weights only" not in str(exc):
            raise CheckpointError(
                f"corrupt or unreadable checkpoint ({_first(exc)})", path=path
            ) from None
        raise CheckpointError(
            "refused: it holds Python objects other than tensors and plain data "
            "(unpickling them could run code)",
            path=path,
        ) from None
    except (
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        ValueError,
        struct.error,
        OSError,
        KeyError,
        AttributeError,
        TypeError,
    ) as exc:
        raise CheckpointError(
            f"corrupt or unreadable checkpoint ({_first(exc)})", path=path
        ) from None
    if not isinstance(payload, dict) or payload.get("schema") != SCHEMA:
        raise CheckpointError(f"not a physics-ml checkpoint (missing schema '{SCHEMA}')", path=path)
    return payload


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]


def restore_checkpoint(
    ckpt: dict[str, Any],
    model: torch.nn.Module,
    optimizer: Any = None,
    scheduler: Any = None,
    ema: Any = None,
    rng: bool = True,
) -> int:
    """Load states from ``ckpt`` into the given objects; returns the step to continue from."""
    try:
        unwrap(model).load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise CheckpointError(
            f"checkpoint does not fit this model: {str(exc).splitlines()[0]}"
        ) from None
    if optimizer is not None and ckpt.get("optimizer") is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt.get("scheduler") is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    if ema is not None and ckpt.get("ema") is not None:
        (unwrap(ema) if isinstance(ema, torch.nn.Module) else ema).load_state_dict(ckpt["ema"])
    if rng and ckpt.get("rng"):
        set_rng_state(ckpt["rng"])
    return int(ckpt["step"])


def save_last_best(
    run_dir: str | Path,
    *,
    is_main: bool,
    is_best: bool = False,
    **state: Any,
) -> Path | None:
    """Rank 0 writes ``checkpoints/last.pt`` (and ``best.pt`` when ``is_best``); others skip.

    ``state`` holds the keyword arguments of :func:`save_checkpoint` (step, config, model, ...).
    """
    if not is_main:
        return None
    ckpt_dir = Path(run_dir) / "checkpoints"
    last = save_checkpoint(ckpt_dir / "last.pt", **state)
    if is_best:
        save_checkpoint(ckpt_dir / "best.pt", **state)
    return last


def check_resume_config(
    stored: dict[str, Any],
    new: dict[str, Any],
    *,
    sections: tuple[str, ...] = ("model", "data"),
    allow: bool = False,
    source: str | Path = "checkpoint",
) -> list[str]:
    """Compare a checkpoint's config with the one a ``--resume`` would use.

    Returns the changed keys (dotted) under ``sections``. Raises :class:`CheckpointError`
    naming them unless ``allow`` (``--allow-config-change``) is set: a resumed run must not
    silently change its model or data.
    """
    changed = [key for sec in sections for key in _diff(stored.get(sec), new.get(sec), sec)]
    if changed and not allow:
        shown = ", ".join(changed[:8]) + (" ..." if len(changed) > 8 else "")
        raise CheckpointError(
            f"{source}: --resume with a different config ({shown}); rerun with the original "
            "settings or pass --allow-config-change"
        )
    return changed


def _diff(old: Any, new: Any, prefix: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            out += _diff(old.get(key), new.get(key), f"{prefix}.{key}")
        return out
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
        old, new = list(old), list(new)
    return [] if old == new else [prefix]


def clean_stale_tmp(directory: str | Path) -> list[Path]:
    """Remove temporary files a killed writer left behind (``.<name>.*.tmp*``, common.io)."""
    root = Path(directory)
    if not root.is_dir():
        return []
    stale = [p for p in root.glob(".*.tmp*") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
