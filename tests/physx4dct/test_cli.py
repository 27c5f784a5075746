"""CLI: every command in-process with CliRunner, and the one-line failure modes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from physx4dct.cli import cli

TRAIN = [
    "--preset",
    "tiny",
    "--iterations",
    "12",
    "--set",
    "train.coarse_iterations=4",
    "--set",
    "train.ckpt_every=6",
    "--set",
    "train.eval_every=6",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny phantom written by the CLI and a 12-iteration 4D run on it."""
    root = tmp_path_factory.mktemp("cli")
    runner = CliRunner()
    scan = root / "scan.pickle"
    res = runner.invoke(
        cli,
        [
            "--threads",
            "1",
            "phantom",
            "--preset",
            "tiny",
            "--views",
            "23",
            "--trace",
            "irregular",
            "--out",
            str(scan),
        ],
    )
    assert res.exit_code == 0, res.output
    run = root / "run"
    res = runner.invoke(
        cli, ["train", "--data", str(scan), "--run-dir", str(run), "--layout", "x2", *TRAIN]
    )
    assert res.exit_code == 0, res.output
    return scan, run


def test_train_outputs(trained):
    _, run = trained
    assert (run / "config.yaml").is_file() and (run / "metrics.jsonl").is_file()
    assert (run / "checkpoints" / "last.pt").is_file()
    assert (run / "checkpoints" / "best.pt").is_file()
    assert "layout: x2" in (run / "config.yaml").read_text()  # --layout is stored
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 12 and np.isfinite(rows[-1]["val_psnr"])


def test_evaluate_render_plot(trained, tmp_path):
    scan, run = trained
    runner = CliRunner()
    ckpt = str(run / "checkpoints" / "last.pt")
    out = tmp_path / "scores.json"
    res = runner.invoke(
        cli, ["evaluate", "--data", str(scan), "--checkpoint", ckpt, "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    scores = json.loads(out.read_text())
    assert len(scores["per_phase"]) == 10
    assert {"psnr_x2", "ssim_x2", "psnr_stnf", "ssim_stnf"} <= scores["mean"].keys()
    res = runner.invoke(cli, ["evaluate", "--data", str(scan), "--fdk", "binned"])
    assert res.exit_code == 0 and "mean:" in res.output
    npz = tmp_path / "proj.npz"
    res = runner.invoke(
        cli,
        [
            "render",
            "--checkpoint",
            ckpt,
            "--out",
            str(npz),
            "--time",
            "10",
            "--angle",
            "0",
            "--angle",
            "90",
        ],
    )
    assert res.exit_code == 0, res.output
    with np.load(npz) as f:
        assert f["projections"].shape == (2, 32, 32) and f["projections"].max() > 0
        assert json.loads(str(f["config"]))["model"] == "4d"
    figs = str(tmp_path / "figs")
    res = runner.invoke(
        cli, ["plot", "--checkpoint", ckpt, "--data", str(scan), "--out", figs, "--layout", "x2"]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "figs" / "slices.png").stat().st_size > 1000
    assert (tmp_path / "figs" / "breathing.png").is_file()
    # every command that reads a scan takes --layout; a wrong one is refused in one line
    for cmd in (
        ["plot", "--checkpoint", ckpt, "--out", str(tmp_path / "no")],
        ["evaluate", "--checkpoint", ckpt],
        ["train", "--run-dir", str(tmp_path / "no_run"), *TRAIN],
    ):
        res = runner.invoke(cli, [*cmd, "--data", str(scan), "--layout", "native"])
        assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1, res.output
        assert str(scan) in res.output
    assert not (tmp_path / "no").exists() and not (tmp_path / "no_run").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--data", "missing.pickle", "--run-dir", "R"], "missing.pickle: file not found"),
        (["train", "--data", "X", "--run-dir", "R", "--preset", "huge"], "unknown preset"),
        (["train", "--data", "X", "--run-dir", "R", "--set", "train.lr_positon=1"], "lr_positon"),
        (["evaluate", "--data", "X"], "exactly one of"),
        (["phantom", "--out", "P.pickle", "--set", "phantom.DSO=2000"], "DSD > DSO"),
    ],
)
def test_user_errors_are_one_line(tmp_path, args, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, args)
    assert res.exit_code != 0
    assert message in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "P.pickle").exists() and not (tmp_path / "R").exists()


def test_resume_without_checkpoint_and_corrupt_scan(trained, tmp_path):
    scan, _ = trained
    runner = CliRunner()
    res = runner.invoke(
        cli, ["train", "--data", str(scan), "--run-dir", str(tmp_path / "r"), "--resume", *TRAIN]
    )
    assert res.exit_code != 0 and "last.pt does not exist" in res.output
    assert not (tmp_path / "r").exists()
    bad = tmp_path / "bad.pickle"
    bad.write_bytes(b"\x80\x04garbage")
    res = runner.invoke(cli, ["evaluate", "--data", str(bad), "--fdk", "all"])
    assert res.exit_code != 0 and f"{bad}: not a" in res.output


def test_help_everywhere():
    runner = CliRunner()
    for cmd in ([], ["phantom"], ["train"], ["render"], ["evaluate"], ["plot"], ["demo"]):
        res = runner.invoke(cli, [*cmd, "--help"])
        assert res.exit_code == 0 and "Usage" in res.output
    assert "--fusion-mode" in runner.invoke(cli, ["train", "--help"]).output
