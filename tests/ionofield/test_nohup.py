"""scripts/ionofield_nohup.sh as documented, venv not activated (tiny preset, given scenario):
start, stop, resume with the stored --set options, one step history."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_start_stop_resume(tmp_path, tiny_scenario, iri_cache, nohup_script):
    run, steps = tmp_path / "long", 60
    opts = ["--scenario", str(tiny_scenario), "--preset", "tiny", "--steps", str(steps)]
    opts += [
        "--device",
        "cpu",
        "--set",
        f"iri.cache_dir={iri_cache}",
        "--set",
        "train.ckpt_every=5",
    ]
    log = nohup_script("ionofield").cycle(run, opts, done=f"done: step {steps}")
    assert "received SIGTERM" in log and "resumed from step" in log
    rows = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in rows if r.strip()] == list(range(1, steps + 1))
