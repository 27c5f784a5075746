"""scripts/fcpredict_nohup.sh as documented, venv not activated: data generated first,
start, stop, resume, and a refused start."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.slow
def test_generates_data_then_start_stop_resume(tmp_path: Path, nohup_script) -> None:
    run = tmp_path / "run"
    opts = ["--preset", "tiny", "--steps", "100000", "--set", "train.eval_every=2"]
    opts += ["--set", "train.batch_size=1", "--device", "cpu"]
    env = {"DATA_N": "3", "DATA_DIM": "1"}
    log = nohup_script("fcpredict").cycle(run, opts, resumed="resumed from", **env)
    assert (run / "data/s0002/FORCE_SETS").is_file()  # generated before training
    assert "inputs checked" in log and "prepare: " in log


def test_a_refused_start_leaves_no_run(tmp_path: Path, nohup_script) -> None:
    opts = ["--preset", "tiny", "--data", str(tmp_path), "--set", "model.cutoff=-1"]
    bad = nohup_script("fcpredict")("start", str(tmp_path / "c"), *opts)
    assert bad.returncode == 1 and "started" not in bad.stdout
    assert "'cutoff' must be > 0" in bad.stderr and "exit code 2" in bad.stderr
    assert not (tmp_path / "c/checkpoints").exists() and not (tmp_path / "c/nohup.json").exists()
