"""torchrun with 2 gloo ranks: replicas end bit-identical."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
