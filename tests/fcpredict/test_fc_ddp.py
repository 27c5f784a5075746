"""torchrun with 2 gloo ranks: replicas end bit-identical; a SIGTERM stops them cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from fcpredict.cli import cli


def test_ddp_two_ranks_identical(tmp_path: Path, free_port: int) -> None:
    # 4 structures leave 3 for training, so the ranks draw different samples and the replicas
    # stay identical only if the gradients are averaged (with 2 they never could differ)
    data = tmp_path / "data"
    res = CliRunner().invoke(cli, ["make-data", str(data), "--n", "4", "--dim", "1"])
    assert res.exit_code == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={free_port}",
        "-m",
        "fcpredict",
        "train",
        "--preset",
        "tiny",
        "--data",
        str(data),
        "--run-dir",
        str(tmp_path / "run"),
        "--steps",
        "2",
        "--set",
        "train.batch_size=1",
        "--device",
        "cpu",
    ]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads((tmp_path / "run" / "ddp_check.json").read_text())
    assert report["world_size"] == 2 and report["identical"]


@pytest.mark.slow
def test_launch_sigterm_stops_every_rank_cleanly(tmp_path: Path, free_port: int) -> None:
    """python -m common.launch + SIGTERM: every rank stops after the same step, last.pt is
    saved, the launcher exits 143 with one line and no elastic traceback."""
    data = tmp_path / "data"
    res = CliRunner().invoke(cli, ["make-data", str(data), "--n", "4", "--dim", "1"])
    assert res.exit_code == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "common.launch", "--nproc_per_node=2"]
    cmd += [f"--master_port={free_port}", "-m", "fcpredict", "train", "--preset", "tiny"]
    cmd += ["--data", str(data), "--run-dir", str(run), "--steps", "400", "--device", "cpu"]
    cmd += ["--set", "train.batch_size=1", "--set", "train.eval_every=2"]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        end = time.time() + 240
        while not (run / "checkpoints/last.pt").is_file() and time.time() < end:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, out[-3000:]
    assert "Traceback" not in out and out.count("exit code 143") == 2
    assert "launch: stopped by SIGTERM" in out
    from common.checkpoint import load_checkpoint

    assert 0 < load_checkpoint(run / "checkpoints/last.pt")["step"] < 400
