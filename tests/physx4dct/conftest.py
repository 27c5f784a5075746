"""Shared fixtures of the physx4dct tests: one tiny simulated scan per session."""

from __future__ import annotations

import pytest
import torch

from physx4dct.config import PhantomConfig
from physx4dct.data import simulate_scan, write_scan

TINY = PhantomConfig(n_views=37, n_val=4, detector=32, volume=32)


@pytest.fixture(autouse=True)
def _one_thread():
    """The machine is shared: one torch thread is faster and deterministic."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def tiny_scan_path(tmp_path_factory):
    """A 37-view 32^2 breathing scan (pickle path)."""
    path = tmp_path_factory.mktemp("scan") / "tiny.pickle"
    torch.set_num_threads(1)
    write_scan(simulate_scan(TINY), path)
    return path
