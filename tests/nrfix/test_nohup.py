"""scripts/nrfix_nohup.sh as documented, venv not activated: start, stop, resume, refusals."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_start_stop_resume(tmp_path, nohup_script):
    run = tmp_path / "run"
    opts = ["--preset", "tiny", "--set", "train.steps=100000", "--set", "train.ckpt_every=2"]
    log = nohup_script("nrfix").cycle(run, opts, resumed=f"resumed from {run}/checkpoints/last.pt")
    assert "inputs checked" in log


def test_a_refused_start_leaves_no_run(tmp_path, nohup_script):
    script = nohup_script("nrfix")
    bad = script("start", str(tmp_path / "c"), "--preset", "tiny", "--set", "model.channels=0")
    assert bad.returncode == 1 and "started" not in bad.stdout
    assert "'channels' must be >= 1" in bad.stderr and "exit code 2" in bad.stderr
    assert not (tmp_path / "c/checkpoints").exists() and not (tmp_path / "c/nohup.json").exists()
