"""Shared pytest fixtures: where ../shared is, free ports, and a quiet plain-log environment."""

from __future__ import annotations

import os
import socket
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


@pytest.fixture(autouse=True)
def _plain_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHYSICS_ML_PLAIN_PROGRESS", "1")
