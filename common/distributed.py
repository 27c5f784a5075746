"""One code path for a single process and for ``torchrun``.

``setup_distributed`` reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
MASTER_PORT) and starts a process group: gloo on the CPU, NCCL on CUDA. Without torchrun it
returns a one-process :class:`DistInfo`, and every helper here degrades to a no-op.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from common.device import resolve_device

T = TypeVar("T")


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes files."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    """True when the torchrun environment variables are present."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def setup_distributed(device_spec: str = "auto", timeout_s: float = 600.0) -> DistInfo:
    """Initialise the process group when launched by torchrun; pick each rank's device."""
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) <= 1:
        return DistInfo(device=resolve_device(device_spec))
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    device = resolve_device(device_spec)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(
            backend=backend,
            rank=rank,
            world_size=world,
            timeout=datetime.timedelta(seconds=timeout_s),
        )
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world, device=device)


def cleanup_distributed() -> None:
    """Destroy the process group if one exists, after every rank reached this point.

    Without the barrier a fast rank can tear down its gloo connections while a slower peer
    is still finishing its last collective, and the peer then aborts (SIGABRT). When an
    exception is propagating (called from a ``finally``), the barrier is skipped: the peers
    may never arrive, and waiting would turn a crash into a hang.
    """
    if dist.is_available() and dist.is_initialized():
        if dist.get_world_size() > 1 and sys.exc_info()[0] is None:
            dist.barrier()
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _nccl() -> bool:
    return dist.get_backend() == "nccl"


def barrier() -> None:
    """Wait for every rank (no-op in one process)."""
    if _active():
        dist.barrier()


def wrap_ddp(model: torch.nn.Module, info: DistInfo, **kwargs: Any) -> torch.nn.Module:
    """Wrap in DistributedDataParallel when distributed (parameters broadcast from rank 0)."""
    if not info.is_distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, **kwargs)


def unwrap(model: Any) -> Any:
    """The bare module inside DDP (or ``torch.compile``) wrappers."""
    while hasattr(model, "module") and isinstance(model, torch.nn.Module):
        model = model.module
    return getattr(model, "_orig_mod", model)


def all_reduce_mean(value: T) -> T:
    """Average a float, a tensor, or a dict of floats over ranks (identity in one process)."""
    if not _active():
        return value
    world = dist.get_world_size()
    # NCCL reduces only CUDA tensors; gloo any.
    dev = torch.device("cuda", torch.cuda.current_device()) if _nccl() else torch.device("cpu")
    if isinstance(value, dict):
        keys = sorted(value)
        packed = torch.tensor([float(value[k]) for k in keys], dtype=torch.float64, device=dev)
        dist.all_reduce(packed)
        return {k: float(v) / world for k, v in zip(keys, packed.tolist())}  # type: ignore[return-value]
    if isinstance(value, torch.Tensor):
        out = value.detach().clone()
        dist.all_reduce(out)
        return out / world  # type: ignore[return-value]
    packed = torch.tensor([float(value)], dtype=torch.float64, device=dev)
    dist.all_reduce(packed)
    return float(packed.item()) / world  # type: ignore[return-value]


def average_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    """Average ``.grad`` over ranks in place, for models trained without DDP's wrapper.

    A parameter that got no gradient on a rank counts as a zero gradient there, so every
    rank steps on the same average (and every rank joins every collective).
    """
    if not _active():
        return
    world = dist.get_world_size()
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad)
        p.grad /= world


def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Copy every parameter and buffer of ``module`` from rank ``src`` to all ranks."""
    if not _active():
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=src)


def state_digest(model: torch.nn.Module) -> str:
    """SHA-256 over every parameter and buffer (names, dtypes, shapes and bytes)."""
    h = hashlib.sha256()
    for name, tensor in unwrap(model).state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def write_replica_check(model: torch.nn.Module, run_dir: str | Path) -> dict[str, Any]:
    """Collective: gather each rank's parameter digest; rank 0 writes ``ddp_check.json``."""
    digest = state_digest(model)
    if _active():
        digests: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(digests, digest)
        rank = dist.get_rank()
    else:
        digests, rank = [digest], 0
    report = {"world_size": len(digests), "digests": digests, "identical": len(set(digests)) == 1}
    if rank == 0:
        from common.io import atomic_write

        with atomic_write(Path(run_dir) / "ddp_check.json") as handle:
            json.dump(report, handle, indent=2)
    return report
