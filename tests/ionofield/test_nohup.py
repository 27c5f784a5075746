"""scripts/ionofield_nohup.sh as documented, venv not activated (tiny preset, given scenario):
start, stop, resume with the stored --set options, one step history."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_start_stop_resume(tmp_path, tiny_scenario, iri_cache, nohup_script):
    run = tmp_path / "long"
    opts = ["--scenario", str(tiny_scenario), "--preset", "tiny", "--steps", "1000000"]
    opts += [
        "--device",
        "cpu",
        "--set",
        f"iri.cache_dir={iri_cache}",
        "--set",
        "train.ckpt_every=5",
    ]
    log = nohup_script("ionofield").cycle(run, opts, resumed="resumed from step")
    assert log.count("received SIGTERM") == 2
    rows = (run / "metrics.jsonl").read_text().splitlines()
    steps = [json.loads(r)["step"] for r in rows if r.strip()]
    assert steps == list(range(1, len(steps) + 1))  # no gap, no duplicate after the resume
