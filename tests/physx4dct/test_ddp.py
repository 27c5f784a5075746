"""torchrun with 2 CPU processes (gloo): replicas stay bit-identical through densification."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_training_keeps_replicas_identical(tiny_scan_path, tmp_path):
    run = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={_free_port()}",
        "-m",
        "physx4dct",
        "--threads",
        "1",
        "train",
        "--data",
        str(tiny_scan_path),
        "--run-dir",
        str(run),
        "--preset",
        "tiny",
        "--iterations",
        "12",
        "--device",
        "cpu",
        "--set",
        "train.coarse_iterations=4",
        "--set",
        "gaussians.densify_from=2",
        "--set",
        "gaussians.densify_every=4",
        "--set",
        "gaussians.densify_grad=1e-6",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((run / "ddp_check.json").read_text())
    assert report["world_size"] == 2
    assert report["identical"], report
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert (
        any(r.get("cloned", 0) + r.get("split", 0) > 0 for r in rows if "n" in r)
        or rows[-1]["n"] != 1000
    )
