"""Seeding, devices/dtypes, atomic file writes and the progress/metrics writers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from common.device import default_dtype, resolve_device, resolve_dtype
from common.errors import UserError
from common.io import atomic_path, atomic_write
from common.progress import MetricsWriter, format_metrics
from common.seeding import generator_for, get_rng_state, seed_everything, set_rng_state


def test_generator_depends_only_on_seed_rank_step() -> None:
    a = torch.rand(4, generator=generator_for(1, 0, 7))
    b = torch.rand(4, generator=generator_for(1, 0, 7))
    assert torch.equal(a, b)
    for other in (generator_for(2, 0, 7), generator_for(1, 1, 7), generator_for(1, 0, 8)):
        assert not torch.equal(a, torch.rand(4, generator=other))


def test_rng_state_round_trip() -> None:
    import random

    import numpy as np

    seed_everything(3)
    state = get_rng_state()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_devices_and_dtypes() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in {"cpu", "cuda"}
    with pytest.raises(UserError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="CUDA is not available"):
            resolve_device("cuda:0")
    assert resolve_dtype("float64") is torch.float64
    with default_dtype("float64"):
        assert torch.zeros(1).dtype == torch.float64
    assert torch.zeros(1).dtype == torch.float32


def test_atomic_write_keeps_old_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    with atomic_write(target) as handle:
        handle.write("old")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write("partial")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_atomic_path_without_output_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError), atomic_path(tmp_path / "x.h5"):
        pass
    assert not (tmp_path / "x.h5").exists()


def test_metrics_writer_resume_drops_later_lines(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    with MetricsWriter(path) as w:
        for s in range(1, 6):
            w.write(s, loss=torch.tensor(float(s)))
    with MetricsWriter(path, resume_step=3) as w:
        w.write(4, loss=40.0)
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert [(r["step"], r["loss"]) for r in rows] == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 40.0)]


def test_format_metrics() -> None:
    assert format_metrics({"loss": 0.5, "lr": 3e-4, "n": 2}) == "loss=0.5 lr=3.000e-04 n=2"
