"""CLI end to end in-process: make-data -> train (+ exact resume) -> predict -> evaluate -> plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from fcpredict.cli import cli

FAST = [
    "--preset",
    "tiny",
    "--set",
    "train.batch_size=1",
    "--set",
    "train.eval_every=2",
    "--device",
    "cpu",
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fcdata") / "data"
    res = CliRunner().invoke(cli, ["make-data", str(out), "--n", "3", "--dim", "1"])
    assert res.exit_code == 0, res.output
    return out


def _train(run_dir: Path, data: Path, steps: int, resume: bool = False):
    args = ["train", *FAST, "--data", str(data), "--run-dir", str(run_dir), "--steps", str(steps)]
    return CliRunner().invoke(cli, args + (["--resume"] if resume else []))


def test_train_resume_is_exact(tmp_path: Path, data_dir: Path, monkeypatch) -> None:
    """A run stopped by a signal after step 2 and resumed equals an uninterrupted run."""
    from common.checkpoint import load_checkpoint
    from common.signals import GracefulInterrupt

    assert _train(tmp_path / "a", data_dir, 4).exit_code == 0
    calls = {"n": 0}

    def requested(self) -> bool:  # behaves like a SIGTERM arriving during step 2
        calls["n"] += 1
        if calls["n"] >= 2:
            self.signum = 15
        return calls["n"] >= 2

    with monkeypatch.context() as m:
        m.setattr(GracefulInterrupt, "requested", property(requested))
        r = _train(tmp_path / "b", data_dir, 4)
    assert r.exit_code == 143, r.output
    assert load_checkpoint(tmp_path / "b/checkpoints/last.pt")["step"] == 2
    r = _train(tmp_path / "b", data_dir, 4, resume=True)
    assert r.exit_code == 0, r.output
    a = load_checkpoint(tmp_path / "a/checkpoints/last.pt")
    b = load_checkpoint(tmp_path / "b/checkpoints/last.pt")
    assert a["step"] == b["step"] == 4
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for key in a["ema"]:
        assert torch.equal(a["ema"][key], b["ema"][key]), key
    assert (tmp_path / "a/config.yaml").is_file() and (tmp_path / "a/metrics.jsonl").is_file()
    assert a["config"]["model"]["irreps_node_embedding"] == "8x0e+4x1o+2x2e"
    lines = (tmp_path / "b/metrics.jsonl").read_text().splitlines()
    steps = [json.loads(ln)["step"] for ln in lines]
    assert steps == sorted(steps)


def test_predict_evaluate_plot(tmp_path: Path, data_dir: Path) -> None:
    assert _train(tmp_path / "run", data_dir, 2).exit_code == 0
    ref = data_dir / "s0000"
    out = tmp_path / "pred" / "FORCE_CONSTANTS"
    r = CliRunner().invoke(
        cli,
        [
            "predict",
            str(ref),
            "-o",
            str(out),
            "--checkpoint",
            str(tmp_path / "run/checkpoints/last.pt"),
            "--symmetrize",
        ],
    )
    assert r.exit_code == 0, r.output
    assert {p.name for p in out.parent.iterdir()} >= {
        "FORCE_CONSTANTS",
        "force_constants.hdf5",
        "phonopy.yaml",
    }
    js = tmp_path / "m.json"
    r = CliRunner().invoke(
        cli, ["evaluate", str(out.parent), str(ref), "--json", str(js), "--mesh", "4 4 4"]
    )
    assert r.exit_code == 0, r.output
    m = json.loads(js.read_text())
    assert m["asr_error_ev_a2"] < 1e-8 and m["index_symmetry_error_ev_a2"] < 1e-8
    assert m["fc_rel_frobenius"] > 0 and m["freq_mae_mesh_thz"] >= 0
    png = tmp_path / "b.png"
    r = CliRunner().invoke(cli, ["plot", str(out.parent), str(ref), "-o", str(png)])
    assert r.exit_code == 0, r.output
    assert png.stat().st_size > 5000


def test_user_errors_are_one_line(tmp_path: Path, data_dir: Path) -> None:
    bad = tmp_path / "POSCAR"
    bad.write_text("garbage\n")
    ck = tmp_path / "x.pt"
    ck.write_bytes(b"not a checkpoint")
    out = tmp_path / "o" / "FORCE_CONSTANTS"
    r = CliRunner().invoke(
        cli, ["predict", str(bad), "-o", str(out), "--checkpoint", str(ck), "--dim", "2 2 2"]
    )
    assert r.exit_code != 0 and "POSCAR" in r.output and "Traceback" not in r.output
    assert not out.exists()
    r = CliRunner().invoke(cli, ["train", *FAST, "--run-dir", str(tmp_path / "r")])
    assert r.exit_code != 0 and "no training data" in r.output
    r = CliRunner().invoke(
        cli,
        [
            "train",
            *FAST,
            "--data",
            str(data_dir),
            "--run-dir",
            str(tmp_path / "r"),
            "--set",
            "model.bogus=1",
        ],
    )
    assert r.exit_code != 0 and "bogus" in r.output
    r = CliRunner().invoke(cli, ["evaluate", str(tmp_path), str(data_dir / "s0000")])
    assert r.exit_code != 0 and "phonopy_disp.yaml" in r.output


def test_help_everywhere() -> None:
    for cmd in ([], ["make-data"], ["train"], ["predict"], ["evaluate"], ["plot"], ["demo"]):
        r = CliRunner().invoke(cli, [*cmd, "--help"])
        assert r.exit_code == 0 and "Usage" in r.output


def test_val_fraction_zero_trains_on_every_folder(data_dir: Path) -> None:
    from common.config import load_config
    from fcpredict.config import PRESETS_DIR, Config
    from fcpredict.train import split_folders

    def split(frac: float):
        cfg = load_config(
            Config,
            preset="tiny",
            presets_dir=PRESETS_DIR,
            sets=[f"data.dirs=[{data_dir}]", f"data.val_fraction={frac}"],
        )
        return split_folders(cfg)

    train, val = split(0.0)
    assert len(train) == 3 and val == []
    train, val = split(0.2)
    assert len(train) == 2 and len(val) == 1


def test_threads_option_sets_torch_threads() -> None:
    before = torch.get_num_threads()
    try:
        r = CliRunner().invoke(cli, ["--threads", "2", "make-data", "--help"])
        assert r.exit_code == 0 and torch.get_num_threads() == 2
        r = CliRunner().invoke(cli, ["--threads", "0", "make-data", "--help"])
        assert r.exit_code != 0 and "--threads" in r.output
    finally:
        torch.set_num_threads(before)


def test_structure_with_and_without_dim(data_dir: Path) -> None:
    """A phonopy folder keeps its supercell; --dim replaces it (it used to be ignored)."""
    from fcpredict import api

    ref = data_dir / "s0000"
    own = api.load_structure(ref)
    assert len(own.supercell) == len(own.unitcell)  # make-data --dim 1
    bigger = api.load_structure(ref, dim="2 2 2")
    assert len(bigger.supercell) == 8 * len(own.unitcell)
    assert len(api.load_structure(ref / "phonopy_disp.yaml", dim=[1, 1, 2]).supercell) == 8
