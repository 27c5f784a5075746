"""scripts/nrfix_nohup.sh as documented, with the venv NOT activated (PATH without .venv/bin):
start returns at once with the PID, SIGTERM saves last.pt and exits 143, `resume RUN_DIR`
continues with the stored options to the end, and the log is appended, never overwritten."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "nrfix_nohup.sh"
STEPS = 30


def _script(*args: str, **env: str) -> subprocess.CompletedProcess:
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "TMPDIR")}
    base = {**keep, "PATH": "/usr/local/bin:/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        env={**base, "PHYSICS_ML_PLAIN_PROGRESS": "1", **env},
        capture_output=True,
        text=True,
        timeout=180,
        cwd="/",
    )


def _alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()  # zombie = exited
    except OSError:
        return False


def _wait(cond, timeout: float = 300) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def _pid(result: subprocess.CompletedProcess) -> int:
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("started PID ")
    return int(result.stdout.split()[2].rstrip(";"))


def _step(run: Path) -> int:
    return int(torch.load(run / "checkpoints/last.pt", weights_only=True)["step"])


@pytest.mark.slow
def test_start_sigterm_resume_without_venv(tmp_path):
    run = tmp_path / "run"
    opts = ["--preset", "tiny", "--set", f"train.steps={STEPS}", "--set", "train.ckpt_every=2"]
    pid = _pid(_script("start", str(run), *opts))
    _wait(lambda: (run / "checkpoints/last.pt").is_file())
    os.kill(pid, signal.SIGTERM)
    _wait(lambda: not _alive(pid))
    stopped = _step(run)
    assert 0 < stopped < STEPS
    first = (run / "train.log").read_text()
    assert "exit code 143" in first and "inputs checked" in first

    pid = _pid(_script("resume", str(run)))
    _wait(lambda: not _alive(pid))
    assert _step(run) == STEPS
    log = (run / "train.log").read_text()
    assert log.startswith(first)  # appended
    assert f"resumed from {run}/checkpoints/last.pt at step {stopped}" in log
    resume_line = next(ln for ln in log.splitlines() if ln.startswith("=== ") and " resume: " in ln)
    assert " ".join(opts) in resume_line and resume_line.endswith("--resume")
    assert "Traceback" not in log


def test_refusals_are_loud(tmp_path):
    no_python = _script("start", str(tmp_path / "a"), PYTHON=str(tmp_path / "nope/python"))
    assert no_python.returncode != 0 and "no Python at" in no_python.stderr
    nothing = _script("resume", str(tmp_path / "b"))
    assert nothing.returncode != 0 and "nohup.args not found" in nothing.stderr
    bad = _script("start", str(tmp_path / "c"), "--preset", "tiny", "--set", "model.channels=0")
    assert bad.returncode != 0 and "started" not in bad.stdout
    assert "'channels' must be >= 1" in bad.stderr and "exit code 2" in bad.stderr
    assert not (tmp_path / "c/checkpoints").exists()
