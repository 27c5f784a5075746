"""CLI: --layout on phantom/evaluate, motion scores in evaluate, export (issue 27)."""

from __future__ import annotations

import json
import pickle

from click.testing import CliRunner

from physx4dct.cli import cli

SMALL = [
    "--preset",
    "tiny",
    "--views",
    "12",
    "--oversample",
    "2",
    "--set",
    "phantom.n_val=0",
    "--set",
    "phantom.detector=16",
    "--set",
    "phantom.volume=16",
]


def test_phantom_layouts_evaluate_and_export(tmp_path):
    runner = CliRunner()
    scans = {}
    for layout in ("x2", "stnf", "native"):
        path = tmp_path / f"{layout}.pickle"
        res = runner.invoke(cli, ["phantom", "--out", str(path), "--layout", layout, *SMALL])
        assert res.exit_code == 0, res.output
        scans[layout] = path
    raw = pickle.loads(scans["x2"].read_bytes())
    assert raw["train"]["time"].max() <= 1 and raw["train"]["phase"].dtype.kind == "i"
    assert raw["accuracy"] == 0.5 and raw["filter"] is None
    scores = {}
    for layout, path in scans.items():
        out = tmp_path / f"{layout}.json"
        res = runner.invoke(
            cli, ["evaluate", "--data", str(path), "--fdk", "all", "--out", str(out)]
        )
        assert res.exit_code == 0, res.output
        assert "motion:  tumour RMS" in res.output
        scores[layout] = json.loads(out.read_text())
        assert len(scores[layout]["per_phase"]) == 10
    assert abs(scores["x2"]["mean"]["psnr_x2"] - scores["native"]["mean"]["psnr_x2"]) < 1e-4
    res = runner.invoke(
        cli, ["evaluate", "--data", str(scans["x2"]), "--fdk", "all", "--layout", "naf"]
    )
    assert res.exit_code == 0  # forced: read as a static NAF scan, still all 10 GT phases
    exp = tmp_path / "exp"
    res = runner.invoke(
        cli, ["export", "--data", str(scans["x2"]), "--fdk", "binned", "--out", str(exp)]
    )
    assert res.exit_code == 0, res.output
    assert len(list(exp.glob("phase_*.nii.gz"))) == 10
    assert len(list((exp / "dicom").glob("phase_*/*.dcm"))) == 10 * 16
    res = runner.invoke(cli, ["export", "--data", str(scans["x2"]), "--out", str(exp)])
    assert res.exit_code == 1 and "not empty" in res.output


def test_naf_layout_of_a_4d_phantom_is_refused_without_output(tmp_path):
    path = tmp_path / "naf.pickle"
    res = CliRunner().invoke(cli, ["phantom", "--out", str(path), "--layout", "naf", *SMALL])
    assert res.exit_code == 1 and "static" in res.output and not path.exists()
    res = CliRunner().invoke(
        cli, ["phantom", "--out", str(path), "--layout", "naf", "--static", *SMALL]
    )
    assert res.exit_code == 0, res.output
    assert pickle.loads(path.read_bytes())["image"].ndim == 3
