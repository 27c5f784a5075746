"""`nrfix correct` through the CLI on data outside the Bowen-York family, and the refusal path."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import nrfix.correct
from nrfix.cli import cli
from nrfix.data import generate
from nrfix.formats import write_hdf5
from nrfix.measure import compare

N, BOX = 16, 6.0
DX = BOX / N
ORIGIN = np.full(3, -BOX / 2 + DX / 2)
WARPED = {
    "punctures": [
        {"m": 0.5, "pos": [0.7, 0.1, 0.05], "P": [0, 0.3, 0], "S": [0, 0, 0.3]},
        {"m": 0.3, "pos": [-1.0, 0.1, 0.05], "P": [0, -0.3, 0]},
    ],
    "transform": {"eps": [0.1, -0.08, 0.05], "omega": 2 * np.pi / BOX},
}


def _file(tmp_path, family: str, params: dict):
    g = generate(family, params, (N, N, N), DX, ORIGIN)
    return write_hdf5(tmp_path / f"{family}.h5", g), g.vars


def _run(args: list) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


def _vars(path) -> np.ndarray:
    with h5py.File(path) as f:
        return f["vars"][()]


def test_kerr_schild_passes_through(tmp_path):
    src, x = _file(tmp_path, "kerr_schild", {"punctures": [{"m": 0.8, "pos": [0.05, 0.02, 0]}]})
    out = tmp_path / "out.h5"
    res = _run(["correct", src, out, "--method", "newton", "--no-momentum", "--iterations", "1"])
    assert res.exit_code == 0, res.output
    ratio = compare(x, _vars(out), DX)["ratio"]
    assert all(ratio[k] <= 1.05 for k in ("ham_median", "ham_rms", "mom_median", "mom_rms"))
    with h5py.File(out) as f:
        prov = json.loads(f.attrs["provenance"])
    assert prov["method"] == "newton" and prov["measurement"]["before"]["cells"] > 0


def test_warped_bowen_york_improves(tmp_path):
    src, x = _file(tmp_path, "bowen_york", WARPED)
    out = tmp_path / "out.h5"
    res = _run(["correct", src, out, "--iterations", "1"])
    assert res.exit_code == 0, res.output
    assert "newton: median |Ham|" in res.output and "input's cells" in res.output
    cmp = compare(x, _vars(out), DX)
    assert cmp["ratio"]["ham_median"] < 0.1
    assert all(cmp["ratio"][k] <= 1.05 for k in ("ham_rms", "mom_median", "mom_rms"))


def test_refuses_a_worse_result(tmp_path, monkeypatch):
    src, x = _file(tmp_path, "schwarzschild", {"punctures": [{"m": 0.5, "pos": [0, 0, 0.1]}]})

    def harmful(vars25, dx, *args, **kwargs):
        y = vars25.copy()
        y[0] *= 1.0 + 0.01 * np.sin(np.arange(N))[:, None, None]
        return y, {"method": "test"}

    monkeypatch.setattr(nrfix.correct, "correct_vars", harmful)
    out = tmp_path / "out.h5"
    res = _run(["correct", src, out])
    assert res.exit_code == 1 and not out.exists()
    line = res.output.strip()
    assert "\n" not in line and "not written" in line and "median |Ham|" in line
    assert "x worse" in line and "--force" in line
    res = _run(["correct", src, out, "--force"])
    assert res.exit_code == 0 and out.exists()
    assert "WARNING" in res.output


def test_learned_needs_a_checkpoint(tmp_path):
    src, _ = _file(tmp_path, "schwarzschild", {"punctures": [{"m": 0.5, "pos": [0, 0, 0.1]}]})
    res = _run(["correct", src, tmp_path / "o.h5", "--method", "learned"])
    assert res.exit_code == 1 and "--checkpoint" in res.output


@pytest.mark.parametrize("fmt", ["grchombo"])
def test_grchombo_output(tmp_path, fmt):
    src, x = _file(tmp_path, "brill_lindquist", {"punctures": [{"m": 0.5, "pos": [0, 0, 0.1]}]})
    out = tmp_path / "out.hdf5"
    res = _run(["correct", src, out, "--no-momentum", "--iterations", "1", "--format", fmt])
    assert res.exit_code == 0, res.output
    with h5py.File(out) as f:
        assert "level_0" in f
