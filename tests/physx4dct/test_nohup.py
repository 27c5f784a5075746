"""scripts/physx4dct_nohup.sh as documented, venv not activated: phantom simulated first,
start, stop, resume, finish (scores and figures)."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_phantom_start_stop_resume_finish(tmp_path, nohup_script):
    run = tmp_path / "run"
    opts = ["--preset", "tiny", "--iterations", "100000", "--set", "train.ckpt_every=5"]
    opts += ["--set", "train.log_every=5"]
    script = nohup_script("physx4dct")
    log = script.cycle(run, opts, resumed="resumed from")
    assert (run / "scan.pickle").is_file() and "received SIGTERM" in log
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if "loss" in r]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)  # one history, no repeats
    finish = script("finish", str(run))
    assert finish.returncode == 0, finish.stderr
    assert (run / "scores.json").is_file() and any((run / "figures").iterdir())
