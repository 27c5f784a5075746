"""Hostile and broken input for every physx4dct subcommand that takes a file or a number.

Each case: non-zero exit, exactly one error line naming the file/option and the problem, no
traceback, and nothing left behind (no run directory, no output file, no temporary file).
The malicious-pickle cases live in test_data.py (the restricted unpickler).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from physx4dct.cli import cli
from physx4dct.safe_pickle import load_pickle

TINY_TRAIN = [
    "--preset",
    "tiny",
    "--iterations",
    "6",
    "--set",
    "train.coarse_iterations=2",
    "--set",
    "train.ckpt_every=3",
    "--set",
    "train.eval_every=3",
]


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A valid scan and a checkpoint trained on it, plus the scan's raw dict."""
    root = tmp_path_factory.mktemp("good")
    scan = root / "scan.pickle"
    runner = CliRunner()
    res = runner.invoke(cli, ["phantom", "--preset", "tiny", "--out", str(scan)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        cli, ["train", "--data", str(scan), "--run-dir", str(root / "run"), *TINY_TRAIN]
    )
    assert res.exit_code == 0, res.output
    return {
        "scan": scan,
        "ckpt": root / "run" / "checkpoints" / "last.pt",
        "raw": load_pickle(scan),
    }


def _scan_variant(good, kind: str, path):
    """Write a broken scan file of `kind` to `path`; returns the expected message fragment."""
    raw = pickle.loads(pickle.dumps(good["raw"]))
    blob = good["scan"].read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
        return "not a readable pickle"
    if kind == "truncated":
        path.write_bytes(blob[: len(blob) // 2])
        return "not a readable pickle"
    if kind == "png":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
        return "pickle"
    if kind == "text":
        path.write_text("DSD: 1500\nDSO: 1000\n")
        return "pickle"
    if kind == "list":
        path.write_bytes(pickle.dumps([1, 2, 3]))
        return "not a NAF"
    if kind == "missing_key":
        raw.pop("DSD")
        path.write_bytes(pickle.dumps(raw))
        return "DSD"
    if kind == "nan_projections":
        raw["train"]["projections"][0, 3, 3] = np.nan
        path.write_bytes(pickle.dumps(raw))
        return "nan"
    if kind == "inf_angles":
        raw["train"]["angles"][2] = np.inf
        path.write_bytes(pickle.dumps(raw))
        return "angle"
    if kind == "wrong_shape":
        raw["train"]["projections"] = raw["train"]["projections"][:, :-3, :]
        path.write_bytes(pickle.dumps(raw))
        return "nDetector"
    if kind == "zero_projections":
        raw["train"]["projections"][:] = 0.0
        path.write_bytes(pickle.dumps(raw))
        return "empty"
    raise AssertionError(kind)


SCAN_KINDS = [
    "missing",
    "empty",
    "truncated",
    "png",
    "text",
    "list",
    "missing_key",
    "nan_projections",
    "inf_angles",
    "wrong_shape",
    "zero_projections",
]


def _check(res, fragment: str, tmp_path, outputs=()) -> None:
    """Non-zero exit, one error line with `fragment`, no traceback, nothing left behind."""
    text = res.output
    assert res.exit_code not in (0, None), text
    assert isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in text
    errors = [ln for ln in text.splitlines() if ln.startswith("Error")]
    assert len(errors) == 1, text
    assert fragment.lower() in errors[0].lower(), text
    for out in outputs:
        assert not out.exists(), f"{out} left behind"
    assert not list(tmp_path.rglob(".*tmp*")), "temporary file left behind"


def _bad_scan(good, kind, tmp_path):
    path = tmp_path / f"{kind}.pickle"
    if kind == "missing":
        return path, "not found"
    return path, _scan_variant(good, kind, path)


@pytest.mark.parametrize("kind", SCAN_KINDS)
def test_train_refuses_a_bad_scan_before_making_the_run_dir(good, kind, tmp_path):
    path, fragment = _bad_scan(good, kind, tmp_path)
    run = tmp_path / "run"
    res = CliRunner().invoke(cli, ["train", "--data", str(path), "--run-dir", str(run)])
    _check(res, fragment, tmp_path, [run])
    assert str(path) in res.output


@pytest.mark.parametrize("kind", SCAN_KINDS)
def test_evaluate_and_plot_refuse_a_bad_scan(good, kind, tmp_path):
    path, fragment = _bad_scan(good, kind, tmp_path)
    out = tmp_path / "scores.json"
    res = CliRunner().invoke(
        cli, ["evaluate", "--data", str(path), "--fdk", "binned", "--out", str(out)]
    )
    _check(res, fragment, tmp_path, [out])
    figs = tmp_path / "figs"
    res = CliRunner().invoke(
        cli, ["plot", "--data", str(path), "--checkpoint", str(good["ckpt"]), "--out", str(figs)]
    )
    _check(res, fragment, tmp_path, [figs])


def _bad_checkpoint(good, kind: str, tmp_path):
    path = tmp_path / f"{kind}.pt"
    blob = good["ckpt"].read_bytes()
    if kind == "missing":
        return path, "not found"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(blob[: len(blob) // 2])
    elif kind == "scan_as_checkpoint":
        path.write_bytes(good["scan"].read_bytes())
    elif kind == "foreign_torch_file":
        torch.save({"weights": torch.zeros(3)}, path)
        return path, "not a physics-ml checkpoint"
    return path, "checkpoint"


CKPT_KINDS = ["missing", "empty", "truncated", "scan_as_checkpoint", "foreign_torch_file"]


@pytest.mark.parametrize("kind", CKPT_KINDS)
def test_render_evaluate_plot_refuse_a_bad_checkpoint(good, kind, tmp_path):
    path, fragment = _bad_checkpoint(good, kind, tmp_path)
    npz = tmp_path / "proj.npz"
    runner = CliRunner()
    res = runner.invoke(
        cli,
        ["render", "--checkpoint", str(path), "--out", str(npz), "--time", "1", "--angle", "0"],
    )
    _check(res, fragment, tmp_path, [npz])
    assert "weights_only" not in res.output
    res = runner.invoke(cli, ["evaluate", "--data", str(good["scan"]), "--checkpoint", str(path)])
    _check(res, fragment, tmp_path)
    figs = tmp_path / "figs"
    res = runner.invoke(
        cli, ["plot", "--data", str(good["scan"]), "--checkpoint", str(path), "--out", str(figs)]
    )
    _check(res, fragment, tmp_path, [figs])


@pytest.mark.parametrize("kind", ["empty", "truncated", "foreign_torch_file"])
def test_resume_from_a_bad_last_checkpoint(good, kind, tmp_path):
    src, fragment = _bad_checkpoint(good, kind, tmp_path)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    src.rename(run / "checkpoints" / "last.pt")
    args = ["train", "--data", str(good["scan"]), "--run-dir", str(run), "--resume"]
    res = CliRunner().invoke(cli, [*args, *TINY_TRAIN])
    _check(res, fragment, tmp_path, [run / "config.yaml", run / "metrics.jsonl"])


def test_resume_with_a_changed_config_is_refused_unless_allowed(good, tmp_path):
    run = tmp_path / "run"
    runner = CliRunner()
    base = ["train", "--data", str(good["scan"]), "--run-dir", str(run), *TINY_TRAIN]
    assert runner.invoke(cli, base).exit_code == 0
    config = (run / "config.yaml").read_text()
    changed = [*base, "--resume", "--set", "hexplane.channels=4", "--iterations", "9"]
    res = runner.invoke(cli, changed)
    _check(res, "hexplane.channels", tmp_path)
    assert "--allow-config-change" in res.output
    assert (run / "config.yaml").read_text() == config  # untouched
    res = runner.invoke(cli, [*base, "--resume", "--iterations", "9"])  # a longer run is fine
    assert res.exit_code == 0, res.output


BAD_OPTIONS = [
    (["--iterations", "0"], "--iterations"),
    (["--iterations", "-3"], "--iterations"),
    (["--period-init", "-1"], "--period-init"),
    (["--period-init", "nan"], "--period-init"),
    (["--period-init", "inf"], "--period-init"),
    (["--fusion-mode", "nonsense"], "--fusion-mode"),
    (["--set", "train.lr_floor=2"], "lr_floor"),
    (["--set", "train.views_per_step=0"], "views_per_step"),
    (["--set", "train.budget=0"], "budget"),
    (["--set", "gaussians.n_init=0"], "n_init"),
    (["--set", "hexplane.channels=0"], "channels"),
    (["--set", "hexplane.multires=[0]"], "multires"),
    (["--set", "loss.dssim=1.5"], "dssim"),
    (["--set", "fusion.alpha=nan"], "alpha"),
    (["--set", "fusion.num_anchors=-4"], "num_anchors"),
    (["--set", "fusion.transformer_heads=3"], "transformer_dim"),
    (["--set", "dtype=float16"], "dtype"),
    (["--set", "model=5d"], "model"),
    (["--set", "seed=-1"], "seed"),
]


@pytest.mark.parametrize("extra, fragment", BAD_OPTIONS)
def test_train_refuses_out_of_range_options(good, extra, fragment, tmp_path):
    run = tmp_path / "run"
    args = ["train", "--data", str(good["scan"]), "--run-dir", str(run), "--preset", "tiny"]
    res = CliRunner().invoke(cli, [*args, *extra])
    _check(res, fragment, tmp_path, [run])


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--views", "0"], "--views"),
        (["--views", "-2"], "--views"),
        (["--sparse-stride", "0"], "--sparse-stride"),
        (["--photons", "-1"], "--photons"),
        (["--phase-noise", "nan"], "--phase-noise"),
        (["--drift", "inf"], "--drift"),
        (["--set", "phantom.n_phases=0"], "n_phases"),
        (["--set", "phantom.detector=0"], "detector"),
        (["--set", "phantom.period_s=0"], "period_s"),
        (["--set", "phantom.scan_s=-60"], "scan_s"),
        (["--set", "phantom.trace=sinus"], "trace"),
        (["--views", "3", "--sparse-stride", "5"], "sparse_stride"),
    ],
)
def test_phantom_refuses_out_of_range_options(extra, fragment, tmp_path):
    out = tmp_path / "scan.pickle"
    res = CliRunner().invoke(cli, ["phantom", "--preset", "tiny", "--out", str(out), *extra])
    _check(res, fragment, tmp_path, [out])


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--time", "1", "--angle", "nan"], "--angle"),
        (["--time", "1", "--angle", "inf"], "--angle"),
        (["--time", "nan", "--angle", "0"], "--time"),
        (["--time", "-1", "--angle", "0"], "--time"),
        (["--time", "1e9", "--angle", "0"], "--time"),
        (["--time", "1", "--time", "2", "--angle", "0"], "--time"),
    ],
)
def test_render_refuses_bad_angles_and_times(good, extra, fragment, tmp_path):
    npz = tmp_path / "proj.npz"
    res = CliRunner().invoke(
        cli, ["render", "--checkpoint", str(good["ckpt"]), "--out", str(npz), *extra]
    )
    _check(res, fragment, tmp_path, [npz])


def test_demo_refuses_zero_iterations(tmp_path):
    out = tmp_path / "demo"
    res = CliRunner().invoke(cli, ["demo", "--out", str(out), "--iterations", "0"])
    _check(res, "--iterations", tmp_path, [out])


def test_bad_config_file(good, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("train: [1, 2\n")
    run = tmp_path / "run"
    res = CliRunner().invoke(
        cli, ["train", "--data", str(good["scan"]), "--run-dir", str(run), "--config", str(cfg)]
    )
    _check(res, "not valid YAML", tmp_path, [run])
