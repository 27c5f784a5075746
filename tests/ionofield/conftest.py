"""Shared fixtures of the ionofield tests, all session-scoped so that the costly parts (IRI
cubes, the tiny scenario, one CLI training run, the prepared tensors) are made once."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)  # tiny batches: one thread is fastest on a shared 2-core machine


@pytest.fixture(scope="session")
def iri_cache(tmp_path_factory):
    """One IRI cube cache for the whole session (cubes cost seconds each)."""
    return tmp_path_factory.mktemp("iri_cache")


@pytest.fixture(scope="session")
def tiny_cfg(iri_cache):
    """The tiny preset with the session cache."""
    from ionofield.config import load

    return load("tiny", sets=(f"iri.cache_dir={iri_cache}",))


@pytest.fixture(scope="session")
def tiny_scenario(tmp_path_factory, tiny_cfg):
    """A simulated 1-day scenario directory (tiny preset)."""
    from ionofield.simulate import simulate

    out = tmp_path_factory.mktemp("scenario")
    simulate(tiny_cfg, out)
    return out


@pytest.fixture(scope="session")
def tiny_prepared(tiny_cfg, tiny_scenario):
    """(prepared tensors, (train, held-out) indices) of the tiny scenario."""
    from ionofield.prepare import load_prepared

    return load_prepared(tiny_cfg, tiny_scenario)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, tiny_scenario, iri_cache):
    """One CLI training run of the tiny preset (20 steps), shared by every test."""
    from click.testing import CliRunner

    from ionofield.cli import cli

    from ._helpers import train_args

    run = tmp_path_factory.mktemp("run")
    res = CliRunner().invoke(cli, train_args(tiny_scenario, run, iri_cache))
    assert res.exit_code == 0, res.output
    return run
