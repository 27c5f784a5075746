"""Device and dtype selection: ``--device auto|cpu|cuda[:N]``, ``--dtype float32|float64``.

Every tool runs on the CPU; CUDA is used when asked for (or by ``auto``) and present.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from common.errors import UserError

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(spec: str = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N`` into a device; clear error if CUDA is asked for but absent."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UserError(f"--device: device '{spec}' requested but CUDA is not available here")
        dev = torch.device(spec)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(
                f"--device: device '{spec}' requested but only "
                f"{torch.cuda.device_count()} GPU(s) exist"
            )
        return dev
    raise UserError(f"--device: unknown device '{spec}' (use auto, cpu, cuda or cuda:N)")


def resolve_dtype(name: str | torch.dtype) -> torch.dtype:
    """Map ``float32``/``float64`` (or a torch dtype) to a torch dtype."""
    if isinstance(name, torch.dtype):
        return name
    try:
        return DTYPES[str(name).strip().lower()]
    except KeyError:
        raise UserError(f"unknown dtype '{name}' (use float32 or float64)") from None


@contextlib.contextmanager
def default_dtype(dtype: str | torch.dtype) -> Iterator[torch.dtype]:
    """Temporarily set torch's default floating dtype (e.g. float64 for GR constraints)."""
    new = resolve_dtype(dtype)
    old = torch.get_default_dtype()
    torch.set_default_dtype(new)
    try:
        yield new
    finally:
        torch.set_default_dtype(old)
