"""Fixtures of the fcpredict tests (tiny float64 model, rattled rock-salt graph).

The graphs here have at most a few hundred edges: intra-op threading gains nothing on them,
and on a loaded 2-core machine OpenMP spin-waiting makes every small matmul up to ~50x slower
(measured: 3 Hessian rows of an 8-atom cell 10 s with 2 threads, 0.2 s with 1). All fcpredict
tests therefore run with one torch thread; the previous setting is restored afterwards so
other tools' tests in the same process are unaffected.
"""

from __future__ import annotations

import pytest
import torch
from fc_helpers import TINY, rocksalt

from fcpredict.graph import batch_graphs
from fcpredict.model import build_model


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One intra-op thread for the duration of each fcpredict test module."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_model():
    """A randomly initialised tiny equivariant model in float64 (eval mode)."""
    torch.manual_seed(0)
    model = build_model(TINY).double().eval()
    return model


@pytest.fixture(scope="session")
def rattled_graph():
    """A rattled rock-salt cell as a float64 Graph."""
    return batch_graphs([rocksalt(rattle=0.08)], cutoff=TINY.cutoff)
