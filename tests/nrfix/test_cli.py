"""The CLI in-process: make-data, train (+ exact resume), correct, evaluate, solve, plot-hist."""

from __future__ import annotations

import json

import h5py
import numpy as np
import torch
from click.testing import CliRunner

from nrfix.cli import cli


def _ok(args: list[str]):
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_make_data_and_train_outputs(trained):
    files = sorted(p.name for p in (trained / "data").glob("*.h5"))
    assert files == ["test_000.h5", "train_000.h5", "train_001.h5", "val_000.h5"]
    run = trained / "run"
    assert (run / "config.yaml").is_file() and (run / "checkpoints/best.pt").is_file()
    rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 4 and np.isfinite(rows[-1]["val_loss"])
    ckpt = torch.load(run / "checkpoints/last.pt", weights_only=True)
    assert ckpt["config"]["data"]["grid"] == 16


class _StopAfter:
    """Stand-in for GracefulInterrupt that 'receives SIGTERM' once ``n`` checks have passed."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    @property
    def requested(self) -> bool:
        self.calls += 1
        return self.calls >= self.n

    def exit(self) -> None:
        raise SystemExit(143)


def test_sigterm_then_resume_matches_uninterrupted(trained, tmp_path, monkeypatch):
    base = ["train", "--preset", "tiny", "--data", str(trained / "data"), "--run-dir"]
    _ok(base + [str(tmp_path / "full")])
    part = tmp_path / "part"
    monkeypatch.setattr("nrfix.train.GracefulInterrupt", lambda: _StopAfter(3))
    stopped = CliRunner().invoke(cli, base + [str(part)])
    assert stopped.exit_code == 143
    assert torch.load(part / "checkpoints/last.pt", weights_only=True)["step"] == 3
    monkeypatch.undo()
    _ok(base + [str(part), "--resume"])
    full = torch.load(tmp_path / "full/checkpoints/last.pt", weights_only=True)
    resumed = torch.load(part / "checkpoints/last.pt", weights_only=True)
    assert resumed["step"] == full["step"] == 4
    for k, v in full["model"].items():
        assert torch.equal(v, resumed["model"][k]), k
    steps = [json.loads(ln)["step"] for ln in (part / "metrics.jsonl").read_text().splitlines()]
    assert steps == [
        json.loads(ln)["step"] for ln in (tmp_path / "full/metrics.jsonl").read_text().splitlines()
    ]


def test_correct_evaluate_plot(trained, tmp_path):
    src = trained / "data/test_000.h5"
    out = tmp_path / "fixed.h5"
    _ok(
        [
            "correct",
            str(src),
            str(out),
            "--checkpoint",
            str(trained / "run/checkpoints/best.pt"),
            "--patch",
            "8",
            "--halo",
            "4",
        ]
    )
    with h5py.File(out) as f:
        prov = json.loads(f.attrs["provenance"])
        assert (
            prov["command"] == "correct"
            and "config" in prov
            and f["vars"].shape == (25, 16, 16, 16)
        )
    res = _ok(["evaluate", str(src), str(out), "--json"])
    assert set(json.loads(res.output)) == {str(src), str(out)}
    _ok(["plot-hist", str(src), str(out), "--out", str(tmp_path / "figs")])
    assert (tmp_path / "figs/hist.png").stat().st_size > 1000


def test_correct_refuses_missing_variable(trained, tmp_path):
    bad = tmp_path / "bad.h5"
    with h5py.File(trained / "data/test_000.h5") as f, h5py.File(bad, "w") as g:
        g["vars"] = f["vars"][()][:24]
        g.attrs["variables"] = json.dumps(json.loads(f.attrs["variables"])[:24])
        g.attrs["dx"] = f.attrs["dx"]
    out = tmp_path / "out.h5"
    result = CliRunner().invoke(
        cli,
        ["correct", str(bad), str(out), "--checkpoint", str(trained / "run/checkpoints/best.pt")],
    )
    assert result.exit_code != 0
    assert "bad.h5" in result.output and "missing variable(s) B3" in result.output
    assert "Traceback" not in result.output
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


def test_solve_reduces_ham(trained, tmp_path):
    out = tmp_path / "solved.h5"
    res = _ok(["solve", str(trained / "data/test_000.h5"), str(out)])
    assert "Newton" in res.output
    rows = json.loads(
        _ok(["evaluate", str(trained / "data/test_000.h5"), str(out), "--json"]).output
    )
    before, after = rows.values()
    assert after["ham_median"] < 0.1 * before["ham_median"]


def test_bad_preset_and_resume_errors(tmp_path):
    r = CliRunner().invoke(
        cli, ["train", "--preset", "tiny", "--run-dir", str(tmp_path), "--resume"]
    )
    assert r.exit_code != 0 and "last.pt" in r.output
    r = CliRunner().invoke(
        cli, ["train", "--preset", "tiny", "--run-dir", str(tmp_path), "--set", "model.nope=1"]
    )
    assert r.exit_code != 0 and "nope" in r.output
