"""scripts/ionofield_nohup.sh as documented, with the venv NOT activated (tiny preset).

start (trains in the background, returns at once with the PID; the tiny scenario is given,
so the script's simulate-first path is skipped to keep the test short),
SIGTERM (saves last.pt, exit 143), resume RUN_DIR (the stored options, --set flags included,
so the config is unchanged), the log appended, never overwritten.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "ionofield_nohup.sh"


def _env(**extra: str) -> dict[str, str]:
    """A bare environment: no activated venv, no PYTHONPATH, one thread."""
    env = {"HOME": os.environ.get("HOME", "/tmp"), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    return env | {"OMP_NUM_THREADS": "1", "THREADS": "1"} | extra


def _script(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _wait(predicate, timeout_s: float, what: str) -> None:
    end = time.time() + timeout_s
    while not predicate():
        if time.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.is_file() and stat.read_text().split(")")[-1].split()[0] == "Z")


def _steps(run: Path) -> list[int]:
    path = run / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line)["step"] for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_nohup_start_stop_resume(tmp_path, tiny_scenario, iri_cache):
    run = tmp_path / "long"
    steps = 60
    options = ["--scenario", str(tiny_scenario), "--preset", "tiny", "--steps", str(steps)]
    options += ["--device", "cpu"]
    options += ["--set", f"iri.cache_dir={iri_cache}", "--set", "train.ckpt_every=5"]
    t = time.time()
    res = _script("start", "long", *options, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert time.time() - t < 10  # returns at once, training runs in the background
    pid = int((run / "nohup.pid").read_text())
    assert f"pid {pid}" in res.stdout

    _wait(lambda: len(_steps(run)) >= 5 or not _alive(pid), 240, "training progress")
    assert _alive(pid), (run / "train.log").read_text()[-2000:]
    os.kill(pid, signal.SIGTERM)
    _wait(lambda: not _alive(pid), 60, "the stop")
    first_log = (run / "train.log").read_text()
    assert "received SIGTERM" in first_log and "exit code 143" in first_log
    assert "Traceback" not in first_log
    stopped_at = _steps(run)[-1]
    assert 0 < stopped_at < steps
    config = (run / "config.yaml").read_text()

    res = _script("resume", str(run), cwd=REPO)  # another working directory on purpose
    assert res.returncode == 0, res.stderr
    pid = int((run / "nohup.pid").read_text())
    _wait(lambda: not _alive(pid), 240, "the resumed run")
    log = (run / "train.log").read_text()
    assert log.startswith(first_log)  # appended
    assert f"resumed from step {stopped_at}" in log and "Traceback" not in log
    assert f"done: step {steps}" in log
    assert (run / "config.yaml").read_text() == config  # same options, --set flags included
    assert _steps(run) == list(range(1, steps + 1))  # no gap, no duplicate after the resume


def test_nohup_fails_loudly_without_python(tmp_path):
    res = _script("start", "r", "--preset", "tiny", cwd=tmp_path, PY=str(tmp_path / "nope"))
    assert res.returncode == 1 and "no Python at" in res.stderr
    assert not (tmp_path / "r").exists()
    res = _script("resume", "missing", cwd=tmp_path)
    assert res.returncode == 1 and "no such run directory" in res.stderr


def test_nohup_simulates_first_and_resumes_with_the_same_options(tmp_path):
    """The argument plumbing, with a stub interpreter that only records its calls."""
    calls = tmp_path / "calls.txt"
    stub = tmp_path / "python"
    stub.write_text(
        "#!/usr/bin/env bash\n"
        '[ "$1" = -c ] && exit 0\n'  # the 'can it import ionofield' check
        f'echo "$*" >> "{calls}"\n'
    )
    stub.chmod(0o755)
    opts = ["--preset", "tiny", "--set", "train.lr=3e-4", "--set=iri.dlat_deg=10", "--steps", "7"]
    res = _script("start", "run", *opts, cwd=tmp_path, PY=str(stub))
    assert res.returncode == 0, res.stderr
    pid = int((tmp_path / "run" / "nohup.pid").read_text())
    _wait(lambda: not _alive(pid), 30, "the stub")
    run = tmp_path / "run"
    simulate, train = calls.read_text().splitlines()
    assert simulate == (
        f"-m ionofield --threads 1 simulate --out {run}/scenario --preset tiny "
        "--set train.lr=3e-4 --set=iri.dlat_deg=10"
    )
    stored = " ".join(opts)
    assert train == (
        f"-m ionofield --threads 1 train {stored} --scenario {run}/scenario --run-dir {run}"
    )
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.pt").write_bytes(b"")
    (run / "scenario").mkdir()
    (run / "scenario" / "scenario.json").write_text("{}")
    res = _script("resume", "run", "--allow-config-change", cwd=tmp_path, PY=str(stub))
    assert res.returncode == 0, res.stderr
    pid = int((run / "nohup.pid").read_text())
    _wait(lambda: not _alive(pid), 30, "the stub")
    resumed = calls.read_text().splitlines()[2]
    assert resumed == f"{train} --resume --allow-config-change"  # no second simulation
    res = _script("start", "run", cwd=tmp_path, PY=str(stub))
    assert res.returncode == 1 and "already started" in res.stderr
