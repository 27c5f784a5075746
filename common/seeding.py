"""Seeding and RNG state: one seed reproduces a run, and a resumed run continues exactly.

``generator_for(seed, rank, step)`` derives an independent ``torch.Generator`` from the
triple, so random draws made at a given step do not depend on how many steps ran before in
this process; that is what makes "5 steps + resume + 5 steps" equal "10 steps".
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

import numpy as np
import torch

_MASK63 = (1 << 63) - 1


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's legacy global RNG and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def derive_seed(seed: int, rank: int = 0, step: int = 0) -> int:
    """A 63-bit seed that depends on (seed, rank, step) and collides with no neighbour."""
    digest = hashlib.sha256(f"{seed}:{rank}:{step}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & _MASK63


def generator_for(
    seed: int, rank: int = 0, step: int = 0, device: str | torch.device = "cpu"
) -> torch.Generator:
    """A fresh generator for (seed, rank, step): stateless in the step, so resume is exact."""
    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(seed, rank, step))
    return gen


def get_rng_state() -> dict[str, Any]:
    """Every global RNG state as plain Python/tensors (loadable with ``weights_only=True``)."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": _python_state_to_plain(random.getstate()),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gauss": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned."""
    random.setstate(_python_state_from_plain(state["python"]))
    npst = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            npst["keys"].numpy().astype(np.uint32),
            npst["pos"],
            npst["has_gauss"],
            npst["cached_gauss"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _python_state_to_plain(st: tuple) -> dict[str, Any]:
    version, internal, gauss = st
    return {"version": version, "internal": list(internal), "gauss": gauss}


def _python_state_from_plain(st: dict[str, Any]) -> tuple:
    return (st["version"], tuple(st["internal"]), st["gauss"])
