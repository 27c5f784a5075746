"""scripts/physx4dct_nohup.sh as documented, with the venv NOT activated: start returns at
once with the PID, SIGTERM saves last.pt, resume reuses the stored options, the log is appended.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "physx4dct_nohup.sh"
ITERATIONS = 100000  # never reached: the test stops the run twice


def _env() -> dict[str, str]:
    """A shell as after login: no VIRTUAL_ENV, no .venv/bin on PATH."""
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "TMPDIR")}
    return {**keep, "PATH": "/usr/local/bin:/usr/bin:/bin", "OMP_NUM_THREADS": "1"}


def _script(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        env={**_env(), **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state  # a zombie has exited


def _wait(cond, timeout: float) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.3)
    raise AssertionError("timed out")


def torch_step(path: Path) -> int:
    """Step stored in a checkpoint (0 while it is being replaced)."""
    from common.checkpoint import CheckpointError, load_checkpoint

    try:
        return int(load_checkpoint(path)["step"])
    except CheckpointError:
        return 0


def _pid(start: subprocess.CompletedProcess) -> int:
    assert start.returncode == 0, start.stderr
    return int(start.stdout.split("pid ")[1].split(",")[0])


@pytest.mark.slow
def test_start_sigterm_resume_appends_the_log(tmp_path):
    run = tmp_path / "run"
    t0 = time.time()
    start = _script(
        "start",
        str(run),
        "--preset",
        "tiny",
        "--iterations",
        str(ITERATIONS),
        "--set",
        "train.ckpt_every=5",
        "--set",
        "train.log_every=5",
    )
    pid = _pid(start)
    assert time.time() - t0 < 60  # phantom + launch, no waiting for the training
    assert _alive(pid)
    last = run / "checkpoints" / "last.pt"
    _wait(last.is_file, 240)
    stop = _script("stop", str(run))
    assert stop.returncode == 0, stop.stderr
    _wait(lambda: not _alive(pid), 60)
    log = (run / "train.log").read_text()
    assert "received SIGTERM" in log and "checkpoint saved" in log
    config_before = yaml.safe_load((run / "config.yaml").read_text())

    step_before = torch_step(last)
    pid2 = _pid(_script("resume", str(run)))
    _wait(lambda: "resumed from" in (run / "train.log").read_text(), 180)
    _wait(lambda: torch_step(last) > step_before, 180)  # it trains on from the checkpoint
    assert _script("stop", str(run)).returncode == 0
    _wait(lambda: not _alive(pid2), 120)
    log2 = (run / "train.log").read_text()
    assert log2.startswith(log)  # appended, not overwritten
    assert log2.count(" train --run-dir ") == 2
    assert (
        log2.splitlines()[
            [i for i, x in enumerate(log2.splitlines()) if " train --run-dir " in x][-1]
        ]
        .rstrip(" =")
        .endswith("--resume")
    )
    assert yaml.safe_load((run / "config.yaml").read_text()) == config_before
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if "loss" in r]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)  # one history, no repeats
    assert _script("resume", str(run), "--iterations", "9").returncode != 0  # no new options


def test_missing_venv_fails_loudly(tmp_path):
    res = _script("start", str(tmp_path / "r"), PY=str(tmp_path / "nope" / "python"))
    assert res.returncode != 0
    assert "no Python at" in res.stderr and "make install" in res.stderr
    res = _script("resume", str(tmp_path / "r2"))
    assert res.returncode != 0 and "nohup.args not found" in res.stderr
