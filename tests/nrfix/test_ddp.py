"""torchrun with 2 CPU processes (gloo), launched through common.launch: replicas stay identical
after training moved the weights (each rank draws its own crops, so only averaged gradients
keep the two copies equal)."""

from __future__ import annotations

import json

import pytest
import torch


@pytest.mark.slow
def test_ddp_two_processes(tmp_path, torchrun):
    run = tmp_path / "ddp"
    target = ["-m", "nrfix", "train", "--preset", "tiny", "--run-dir", str(run)]
    proc = torchrun([*target, "--set", "train.steps=2"], launcher="common.launch", timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    check = json.loads((run / "ddp_check.json").read_text())
    assert check["world_size"] == 2 and check["identical"]
    assert len(set(check["digests"])) == 1
    ckpt = torch.load(run / "checkpoints/last.pt", weights_only=True)
    assert ckpt["step"] == 2
    assert ckpt["model"]["tail.weight"].abs().max() > 0  # zero at init: the weights moved
