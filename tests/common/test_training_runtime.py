"""Exact resume, atomic checkpoints, torchrun/DDP replicas and SIGTERM, on the toy run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from common.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tests.conftest import wait_for_lines

REPO = Path(__file__).resolve().parents[2]
TOY = Path(__file__).with_name("toy_train.py")


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", PHYSICS_ML_PLAIN_PROGRESS="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def _toy(run_dir: Path, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(TOY), "--run-dir", str(run_dir), *extra]
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout)


def _state(run_dir: Path) -> dict:
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")


def test_exact_resume_matches_straight_run(tmp_path: Path) -> None:
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert _toy(straight, "--steps", "10").returncode == 0
    assert _toy(split, "--steps", "5").returncode == 0
    assert _state(split)["step"] == 5
    res = _toy(split, "--steps", "10", "--resume")
    assert res.returncode == 0, res.stderr
    a, b = _state(straight), _state(split)
    assert a["step"] == b["step"] == 10
    for key, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][key]), f"parameter {key} differs after resume"
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    lines = [json.loads(x) for x in (split / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == list(range(1, 11))  # no duplicated steps after resume
    ref = [json.loads(x)["loss"] for x in (straight / "metrics.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in lines] == ref


def test_plain_log_lines_when_not_a_tty(tmp_path: Path) -> None:
    res = _toy(tmp_path / "r", "--steps", "3")
    lines = [ln for ln in res.stderr.splitlines() if "toy 3/3" in ln]
    assert lines and "\r" not in res.stderr and "loss=" in lines[0]


def _tiny_model() -> torch.nn.Module:
    return torch.nn.Linear(3, 2)


def test_killed_writer_leaves_old_checkpoint_intact(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, step=1, config={"a": 1}, model=_tiny_model())
    before = path.read_bytes()
    script = f"""
import os, signal, torch
from common.checkpoint import save_checkpoint
real_save = torch.save
def dying_save(obj, f, *a, **k):
    with open(f, 'wb') as h:
        h.write(b'PK\\x03\\x04 half a checkpoint')
        h.flush()
    os.kill(os.getpid(), signal.SIGKILL)
torch.save = dying_save
save_checkpoint({str(path)!r}, step=2, config={{}}, model=torch.nn.Linear(3, 2))
"""
    res = subprocess.run([sys.executable, "-c", script], env=_env(), timeout=60)
    assert res.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    assert load_checkpoint(path)["step"] == 1


def test_corrupt_and_foreign_checkpoints_give_clear_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    save_checkpoint(good, step=3, config={}, model=_tiny_model())
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=r"truncated\.pt: not a .*zip archive.*truncated"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match=r"foreign\.pt: not a physics-ml checkpoint"):
        load_checkpoint(foreign)
    evil = tmp_path / "evil.pt"
    torch.save({"schema": "x", "obj": Path("/")}, evil)  # arbitrary class: refused by weights_only
    with pytest.raises(CheckpointError, match=r"evil\.pt: refused: it holds Python objects") as err:
        load_checkpoint(evil)
    assert "weights_only" not in str(err.value)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.slow
def test_torchrun_two_processes_keep_replicas_identical(tmp_path: Path, torchrun) -> None:
    res = torchrun([str(TOY), "--run-dir", str(tmp_path), "--steps", "6"])
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads((tmp_path / "ddp_check.json").read_text())
    assert report["world_size"] == 2
    assert report["identical"] and len(set(report["digests"])) == 1


def test_sigterm_saves_checkpoint_and_exits_nonzero(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        str(TOY),
        "--run-dir",
        str(tmp_path),
        "--steps",
        "100000",
        "--ckpt-every",
        "100000",
        "--sleep-s",
        "0.05",
    ]
    proc = subprocess.Popen(
        cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    metrics = tmp_path / "metrics.jsonl"
    wait_for_lines(metrics, 3, timeout_s=60)
    assert not (tmp_path / "checkpoints" / "last.pt").exists()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    ckpt = _state(tmp_path)
    assert ckpt["step"] >= 3
    assert "received SIGTERM" in err
