"""CLI in-process: train (+ exact resume), evaluate, predict, plot, and clear user errors."""

from __future__ import annotations

import json

import h5py
import torch
from click.testing import CliRunner

import common.progress
from ionofield.cli import cli
from tests.common.progress_probe import record_progress_starts

from ._helpers import train_args


def test_train_outputs(trained):
    assert (trained / "checkpoints" / "last.pt").is_file() and (
        trained / "checkpoints" / "best.pt"
    ).is_file()
    assert (trained / "config.yaml").is_file()
    rows = [json.loads(x) for x in (trained / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 20 and "val_rmse" in rows[-1]
    ckpt = torch.load(trained / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["config"]["train"]["steps"] == 20


def test_exact_resume(tmp_path, tiny_scenario, iri_cache, trained, monkeypatch):
    run = tmp_path / "r"
    base = train_args(tiny_scenario, run, iri_cache)
    assert CliRunner().invoke(cli, base + ["--set", "train.stop_at=10"]).exit_code == 0
    starts = record_progress_starts(monkeypatch, common.progress)  # imported at call time
    res = CliRunner().invoke(cli, base + ["--resume"])
    assert res.exit_code == 0, res.output
    assert starts == [10]  # it/s and ETA count only the steps run after the resume
    a = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]
    b = torch.load(trained / "checkpoints" / "last.pt", weights_only=True)["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


def test_evaluate_predict_plot(trained, tiny_scenario, tmp_path):
    r = CliRunner().invoke(
        cli,
        [
            "evaluate",
            "--run",
            str(trained),
            "--scenario",
            str(tiny_scenario),
            "--out",
            str(tmp_path / "e.json"),
        ],
    )
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "e.json").read_text())
    assert m["points"]["all"]["n"] > 0 and m["vtec_rmse_iri"] > 0
    # both honest measures: against the noisy observations and the noise-free simulated truth
    a = m["points"]["all"]
    assert "vs observations" in r.output and "vs simulated truth" in r.output
    assert a["iri_vs_truth"] < a["iri"]  # the noise (0.04/0.06) adds to the error vs observations
    r = CliRunner().invoke(
        cli,
        [
            "predict",
            "--run",
            str(trained),
            "--time",
            "2015-03-16T06:00:00Z",
            "--lat",
            "-60:60:30",
            "--lon",
            "-180:180:90",
            "--alt",
            "200:800:200",
            "--out",
            str(tmp_path / "p.h5"),
            "--ionex",
            str(tmp_path / "p.15i"),
        ],
    )
    assert r.exit_code == 0, r.output
    with h5py.File(tmp_path / "p.h5") as f:
        assert f["log10_ne"].shape == (1, 5, 5, 4) and f["vtec_tecu"].shape == (1, 71, 73)
        assert "config" in f.attrs
    from ionofield.ionex import read_ionex

    assert read_ionex(tmp_path / "p.15i").tec_tecu.shape == (1, 71, 73)
    r = CliRunner().invoke(
        cli,
        [
            "plot",
            "--run",
            str(trained),
            "--scenario",
            str(tiny_scenario),
            "--out",
            str(tmp_path / "fig"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert {p.name for p in (tmp_path / "fig").glob("*.png")} >= {
        "ne_map.png",
        "profiles.png",
        "tec_maps.png",
        "tec_direction.png",
        "training.png",
    }


def test_user_errors(tmp_path, trained):
    r = CliRunner().invoke(
        cli, ["simulate", "--out", str(tmp_path / "s"), "--start", "2044-01-01", "--preset", "tiny"]
    )
    assert r.exit_code != 0 and "outside the shipped Kp/F10.7 record" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "s" / "observations.h5").exists()
    r = CliRunner().invoke(
        cli,
        ["predict", "--run", str(trained), "--time", "yesterday", "--out", str(tmp_path / "x.h5")],
    )
    assert r.exit_code != 0 and "--time" in r.output and not (tmp_path / "x.h5").exists()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    r = CliRunner().invoke(cli, ["evaluate", "--run", str(bad), "--scenario", str(tmp_path)])
    assert r.exit_code != 0 and "bad.pt" in r.output
    r = CliRunner().invoke(
        cli,
        [
            "train",
            "--scenario",
            str(tmp_path),
            "--run-dir",
            str(tmp_path / "r"),
            "--preset",
            "tiny",
        ],
    )
    assert r.exit_code != 0 and "observations" in r.output
    for cmd in ("simulate", "train", "evaluate", "predict", "plot", "demo"):
        assert CliRunner().invoke(cli, [cmd, "--help"]).exit_code == 0
