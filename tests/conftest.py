"""Shared pytest fixtures: where ../shared is, free ports, and a quiet plain-log environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout. Skips when absent; under ``CI=true`` it must exist."""
    if not (SHARED / "data").is_dir():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI=true but the shared data folder {SHARED} is missing")
        pytest.skip(f"shared data not found at {SHARED} (only present for developers and CI)")
    return SHARED


@pytest.fixture()
def free_port() -> int:
    """A TCP port free on the loopback interface (for torchrun's rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """Environment for a child process: repo on PYTHONPATH, 1 thread, no torchrun variables."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", PHYSICS_ML_PLAIN_PROGRESS="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    env.update(extra)
    return env


def wait_for_lines(path: Path, n: int, timeout_s: float = 60.0, poll_s: float = 0.05) -> bool:
    """Wait until ``path`` (e.g. a run's metrics.jsonl) has at least ``n`` lines."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return True
        time.sleep(poll_s)
    return False


@pytest.fixture()
def torchrun(free_port: int) -> Callable[..., subprocess.CompletedProcess]:
    """Run ``torchrun --nproc_per_node=N <target...>`` (gloo on CPU) and return the result.

    ``target`` is either a script path or ``["-m", "<tool>", "train", ...]``. Tests of every
    tool's replica identity use it, so the launch line is written once.
    """

    def run(
        target: list[str],
        *,
        nproc: int = 2,
        timeout: float = 180,
        launcher: str = "torch.distributed.run",
    ) -> subprocess.CompletedProcess:
        cmd = [
            sys.executable,
            "-m",
            launcher,
            f"--nproc_per_node={nproc}",
            f"--master_port={free_port}",
            *target,
        ]
        return subprocess.run(cmd, env=clean_env(), capture_output=True, text=True, timeout=timeout)

    return run


@pytest.fixture(autouse=True)
def _plain_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHYSICS_ML_PLAIN_PROGRESS", "1")
