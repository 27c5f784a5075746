"""torchrun with 2 CPU processes (gloo): replicas stay identical."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_ddp_two_processes(tmp_path, free_port):
    run = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={free_port}",
        "-m",
        "nrfix",
        "train",
        "--preset",
        "tiny",
        "--run-dir",
        str(run),
        "--set",
        "train.steps=2",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    check = json.loads((run / "ddp_check.json").read_text())
    assert check["world_size"] == 2 and check["identical"]
    assert len(set(check["digests"])) == 1
    assert (run / "checkpoints/last.pt").is_file()
