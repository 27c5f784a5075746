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


def _children(pid: int) -> list[int]:
    from pathlib import Path

    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _local_rank(pid: int) -> str | None:
    from pathlib import Path

    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return next((e[11:].decode() for e in env if e.startswith(b"LOCAL_RANK=")), None)


@pytest.mark.slow
def test_sigterm_to_one_rank_stops_both_on_the_same_step(tmp_path, free_port):
    """Only rank 1 gets SIGTERM: the request travels with the step's all-reduce, so rank 0
    stops on the same step too (otherwise it would wait in the next collective)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import clean_env

    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "common.launch", "--nproc_per_node=2"]
    cmd += [f"--master_port={free_port}", "-m", "nrfix", "train", "--preset", "tiny"]
    cmd += ["--run-dir", str(run), "--set", "train.steps=400", "--set", "train.ckpt_every=2"]
    proc = subprocess.Popen(cmd, env=clean_env(), stderr=subprocess.PIPE, text=True)
    try:
        end = time.time() + 120
        while not (run / "checkpoints/last.pt").is_file() and time.time() < end:
            time.sleep(0.2)
        rank1 = next(p for p in _children(proc.pid) if _local_rank(p) == "1")
        os.kill(rank1, signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert err.count("stopped by signal; checkpoint saved") == 2, err[-2000:]
    assert "Traceback" not in err
    step = torch.load(run / "checkpoints/last.pt", weights_only=True)["step"]
    assert 0 < step < 400
