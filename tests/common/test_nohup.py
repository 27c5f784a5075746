"""common.nohup, the engine behind scripts/<tool>_nohup.sh: what each tool prepares, the
trainer's command line, and the refusals (one line, exit 1, nothing left behind)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from common import nohup

TOOLS = ("nrfix", "ionofield", "physx4dct", "fcpredict")


def _spec(tool: str) -> nohup.NohupSpec:
    return __import__(f"{tool}.nohup", fromlist=["SPEC"]).SPEC


@pytest.mark.parametrize("tool", TOOLS)
def test_help_and_missing_python(tool, tmp_path, nohup_script):
    script = nohup_script(tool)
    helped = script("--help")
    assert helped.returncode == 0 and f"scripts/{tool}_nohup.sh start RUN_DIR" in helped.stdout
    res = script("start", str(tmp_path / "r"), PY=str(tmp_path / "nope/python"))
    assert res.returncode == 1 and res.stderr.startswith(f"{tool}_nohup: no Python at")
    assert "make install" in res.stderr and not (tmp_path / "r").exists()


def test_refusals_are_one_line(tmp_path, nohup_script, capsys):
    spec = _spec("nrfix")
    cases = {
        ("resume", str(tmp_path / "missing")): "no such run directory",
        ("resume", str(tmp_path)): "nohup.json not found",
        ("stop", str(tmp_path)): "is not training",
        ("finish", str(tmp_path)): "nrfix has no finish step",
        ("start",): "usage:",
    }
    for argv, said in cases.items():
        assert nohup.main(spec, list(argv)) == 1
        err = capsys.readouterr().err
        assert err.startswith("nrfix_nohup: ") and said in err and err.count("\n") == 1, err
    (tmp_path / "nohup.json").write_text("{not json")
    assert nohup.main(spec, ["status", str(tmp_path)]) == 1
    assert "nohup.json is damaged" in capsys.readouterr().err
    res = nohup_script("nrfix")("start", str(tmp_path / "n"), NPROC="two")
    assert res.returncode == 1 and "NPROC must be a positive integer" in res.stderr
    assert not (tmp_path / "n" / "nohup.json").exists()


def test_preparation_plans(tmp_path):
    run = tmp_path / "run"
    assert _spec("nrfix").prepare is None
    opts = ["--preset", "tiny", "--set", "train.lr=3e-4", "--set=iri.dlat_deg=10", "--steps", "7"]
    (sim,), added = _spec("ionofield").prepare(run, opts)
    assert sim.args == ["simulate", "--out", f"{run}/scenario", *opts[:4], opts[4]]
    assert added == ["--scenario", f"{run}/scenario"]
    assert _spec("ionofield").prepare(run, ["--scenario=x"]) == ([], [])
    (phantom,), added = _spec("physx4dct").prepare(run, ["--iterations", "9"])
    assert phantom.args[:3] == ["phantom", "--preset", "cpu"] and phantom.creates.endswith(
        "scan.pickle"
    )
    assert added == ["--preset", "cpu", "--data", f"{run}/scan.pickle"]
    (make,), added = _spec("fcpredict").prepare(run, ["--preset", "tiny"])
    assert make.args[:2] == ["make-data", f"{run}/data"] and added == ["--data", f"{run}/data"]


def test_train_command_threads_and_processes(tmp_path, monkeypatch):
    spec = _spec("nrfix")
    state = {"nproc": 1, "options": ["--preset", "tiny"]}
    monkeypatch.setenv("THREADS", "3")
    one = nohup.train_command(spec, tmp_path, state, "resume", ["--allow-config-change"])
    assert one == [
        sys.executable, "-m", "nrfix", "--threads", "3", "train", "--preset", "tiny",
        "--run-dir", str(tmp_path), "--resume", "--allow-config-change",
    ]  # fmt: skip
    two = nohup.train_command(spec, tmp_path, {**state, "nproc": 2}, "start", [])
    assert two[1:5] == ["-m", "common.launch", "--nproc_per_node=2", "-m"] and "--resume" not in two


def test_job_prepares_only_what_is_missing(tmp_path, monkeypatch):
    """The background job runs the preparation once, then replaces itself with the trainer."""
    calls: list[list[str]] = []
    made = tmp_path / "made"
    state = {"cwd": str(tmp_path), "nproc": 1, "options": ["--x"], "prepare": [
        {"args": ["simulate"], "creates": str(made)},
    ]}  # fmt: skip
    (tmp_path / "nohup.json").write_text(json.dumps(state))
    monkeypatch.setattr(nohup.subprocess, "run", lambda cmd: calls.append(cmd) or _Done())
    monkeypatch.setattr(nohup.os, "execv", lambda path, cmd: calls.append(cmd))
    monkeypatch.setenv("THREADS", "1")
    nohup.job(_spec("ionofield"), tmp_path, "start", [])
    made.write_text("")
    nohup.job(_spec("ionofield"), tmp_path, "resume", [])
    assert [c[3:6] for c in calls] == [
        ["--threads", "1", "simulate"],
        ["--threads", "1", "train"],
        ["--threads", "1", "train"],
    ]
    assert calls[-1][-1] == "--resume"


class _Done:
    returncode = 0


def test_running_pid_ignores_other_processes(tmp_path):
    (tmp_path / "nohup.pid").write_text("1\n")  # init: alive, but not this tool's job
    assert nohup.running_pid(tmp_path, _spec("nrfix")) is None
    (tmp_path / "nohup.pid").write_text("garbage")
    assert nohup.running_pid(tmp_path, _spec("nrfix")) is None
    assert Path("/proc/1").exists()
