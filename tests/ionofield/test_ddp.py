"""Two-process torchrun (gloo) training through common.launch: replicas must stay identical
after training moved the weights (each rank draws its own batches, so only averaged
gradients keep the two copies equal)."""

from __future__ import annotations

import json

import pytest
import torch


@pytest.mark.slow
def test_ddp_two_ranks(tmp_path, tiny_scenario, iri_cache, torchrun):
    run = tmp_path / "ddp"
    target = ["-m", "ionofield", "train", "--scenario", str(tiny_scenario), "--preset", "tiny"]
    target += ["--run-dir", str(run), "--device", "cpu", "--set", f"iri.cache_dir={iri_cache}"]
    res = torchrun([*target, "--set", "train.steps=6"], launcher="common.launch", timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads((run / "ddp_check.json").read_text())
    assert report["world_size"] == 2 and report["identical"], report
    assert len(set(report["digests"])) == 1
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["step"] == 6
    assert ckpt["model"]["decoder.4.weight"].abs().max() > 0  # zero at init: the weights moved
