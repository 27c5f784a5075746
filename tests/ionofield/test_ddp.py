"""Two-process torchrun (gloo) training: replicas must stay identical."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_ddp_two_ranks(tmp_path, tiny_scenario, iri_cache, free_port):
    run = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={free_port}",
        "-m",
        "ionofield",
        "train",
        "--scenario",
        str(tiny_scenario),
        "--preset",
        "tiny",
        "--run-dir",
        str(run),
        "--device",
        "cpu",
        "--set",
        f"iri.cache_dir={iri_cache}",
        "--set",
        "train.steps=6",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads((run / "ddp_check.json").read_text())
    assert report["world_size"] == 2 and report["identical"], report
    assert (run / "checkpoints" / "last.pt").is_file()
