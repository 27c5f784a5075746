"""Shared pytest fixtures: where ../shared is, free ports, and a quiet plain-log environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout. Skips when absent; under ``CI=true`` it must exist."""
    if not (SHARED / "data").is_dir():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI=true but the shared data folder {SHARED} is missing")
        pytest.skip(f"shared data not found at {SHARED} (only present for developers and CI)")
    return SHARED


@pytest.fixture()
def free_port() -> int:
    """A TCP port free on the loopback interface (for torchrun's rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """Environment for a child process: repo on PYTHONPATH, 1 thread, no torchrun variables."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", PHYSICS_ML_PLAIN_PROGRESS="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    env.update(extra)
    return env


def wait_for_lines(path: Path, n: int, timeout_s: float = 60.0, poll_s: float = 0.05) -> bool:
    """Wait until ``path`` (e.g. a run's metrics.jsonl) has at least ``n`` lines."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return True
        time.sleep(poll_s)
    return False


@pytest.fixture()
def torchrun(free_port: int) -> Callable[..., subprocess.CompletedProcess]:
    """Run ``torchrun --nproc_per_node=N <target...>`` (gloo on CPU) and return the result.

    ``target`` is either a script path or ``["-m", "<tool>", "train", ...]``. Tests of every
    tool's replica identity use it, so the launch line is written once.
    """

    def run(
        target: list[str],
        *,
        nproc: int = 2,
        timeout: float = 180,
        launcher: str = "torch.distributed.run",
    ) -> subprocess.CompletedProcess:
        cmd = [
            sys.executable,
            "-m",
            launcher,
            f"--nproc_per_node={nproc}",
            f"--master_port={free_port}",
            *target,
        ]
        return subprocess.run(cmd, env=clean_env(), capture_output=True, text=True, timeout=timeout)

    return run


@pytest.fixture(autouse=True)
def _plain_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHYSICS_ML_PLAIN_PROGRESS", "1")


class NohupScript:
    """Run ``scripts/<tool>_nohup.sh`` as a user would: venv not activated, one thread."""

    def __init__(self, tool: str) -> None:
        self.tool = tool
        self.path = REPO / "scripts" / f"{tool}_nohup.sh"

    def __call__(
        self, *args: str, cwd: Path | str = "/", **env: str
    ) -> subprocess.CompletedProcess:
        """The script's result (``env`` is added to a bare login-like environment)."""
        keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "TMPDIR")}
        base = {**keep, "PATH": "/usr/local/bin:/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
        return subprocess.run(
            ["bash", str(self.path), *args],
            env={**base, "THREADS": "1", **env},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=cwd,
        )

    @staticmethod
    def pid(result: subprocess.CompletedProcess) -> int:
        """The PID a successful ``start``/``resume`` printed."""
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("started PID "), result.stdout
        return int(result.stdout.split()[2].rstrip(";"))

    @staticmethod
    def alive(pid: int) -> bool:
        """The process exists and has not exited (a zombie has)."""
        try:
            return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False

    @staticmethod
    def wait(cond: Callable[[], bool], timeout: float = 240, what: str = "a condition") -> None:
        """Poll ``cond`` until true; fail the test after ``timeout`` seconds."""
        end = time.time() + timeout
        while time.time() < end:
            if cond():
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    @staticmethod
    def step(run: Path) -> int:
        """The step stored in ``run``'s last.pt (0 while it is missing or being replaced)."""
        from common.checkpoint import CheckpointError, load_checkpoint

        try:
            return int(load_checkpoint(run / "checkpoints/last.pt")["step"])
        except (CheckpointError, FileNotFoundError, KeyError):
            return 0

    def cycle(self, run: Path, options: list[str], *, resumed: str, **env: str) -> str:
        """start -> last.pt -> stop -> resume -> a later last.pt -> stop, with the checks every
        tool shares (exit 143 logged at each stop, a second start refused, the log appended,
        the resume line = the stored options + --resume). ``options`` must ask for more steps
        than the test waits for. Returns the whole log."""
        pid = self.pid(self("start", str(run), *options, **env))
        self.wait(lambda: self.step(run) > 0, what="the first checkpoint")
        assert self.alive(pid), (run / "train.log").read_text()[-2000:]
        assert self("stop", str(run)).returncode == 0
        self.wait(lambda: not self.alive(pid), 120, "the stop")
        first = (run / "train.log").read_text()
        assert "exit code 143" in first and "Traceback" not in first, first[-2000:]
        stopped = self.step(run)
        again = self("start", str(run), *options, **env)
        assert again.returncode == 1 and "already holds a run" in again.stderr

        pid = self.pid(self("resume", str(run), cwd=REPO, **env))  # another cwd on purpose
        self.wait(lambda: resumed in (run / "train.log").read_text()[len(first) :], what="resume")
        self.wait(lambda: self.step(run) > stopped, what="a checkpoint after the resume")
        assert self("stop", str(run)).returncode == 0
        self.wait(lambda: not self.alive(pid), 120, "the second stop")
        log = (run / "train.log").read_text()
        assert log.startswith(first)  # appended, never overwritten
        assert log.count("exit code 143") == 2 and "Traceback" not in log, log[-2000:]
        header = [ln for ln in log.splitlines() if ln.startswith("=== ") and " resume: " in ln]
        assert len(header) == 1 and " ".join(options) in header[0], header
        assert header[0].endswith(f"--run-dir {run} --resume")
        return log


@pytest.fixture()
def nohup_script() -> Callable[[str], NohupScript]:
    """``nohup_script("nrfix")`` -> a :class:`NohupScript` for that tool's script."""
    return NohupScript
