"""Kerr-Schild data with every puncture, P and S: a boosted Kerr hole is exact (4th order)."""

from __future__ import annotations

import numpy as np
import pytest

from common.errors import UserError
from nrfix.data import generate
from nrfix.measure import fields

HOLE = {"m": 1.0, "pos": [-2.5, 0.3, 0.2], "P": [0.3, 0.0, 0.1], "S": [0.0, 0.2, 0.3]}


def _median_violation(punctures: list[dict], n: int) -> tuple[float, float]:
    dx = 1.6 / n
    g = generate("kerr_schild", {"punctures": punctures}, (n,) * 3, dx, np.full(3, -0.8 + dx / 2))
    f = fields(g.vars, dx)
    return float(np.median(f["ham"])), float(np.median(f["mom"]))


def test_boosted_kerr_converges_at_fourth_order():
    coarse, fine = _median_violation([HOLE], 12), _median_violation([HOLE], 24)
    assert coarse[0] / fine[0] > 10 and coarse[1] / fine[1] > 10


def test_every_puncture_is_used():
    two = [HOLE, {"m": 0.5, "pos": [2.5, 0, 0]}]
    one = _median_violation([HOLE], 12)
    both = _median_violation(two, 12)
    assert both != one
    coarse, fine = both, _median_violation(two, 24)
    assert coarse[0] / fine[0] < 4  # superposed holes violate the constraints in the continuum


def test_spin_above_extremal_is_refused():
    with pytest.raises(ValueError, match="S"):
        _median_violation([{**HOLE, "S": [0, 0, 1.2]}], 8)


CLOSE = [{"m": 0.6, "pos": [0.3, 0, 0]}, {"m": 0.6, "pos": [-0.3, 0, 0], "P": [0.2, 0, 0]}]


def test_holes_too_close_are_refused_in_one_line():
    with pytest.raises(UserError, match="too close: the lapse is not real") as err:
        _median_violation(CLOSE, 8)
    assert "\n" not in str(err.value)


def test_make_data_redraws_holes_too_close(tmp_path):
    from click.testing import CliRunner

    from nrfix.cli import cli
    from nrfix.formats import read_hdf5

    sets = ["data.n_train=6", "data.n_val=1", "data.grid=8", "data.crop=8", "data.box=2.0"]
    sets += ["data.max_punctures=2", "data.mass_min=0.5", "data.position_max=0.4"]
    args = ["make-data", "--family", "kerr_schild", "--out", str(tmp_path)]
    for s in sets:
        args += ["--set", s]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    grids = [read_hdf5(f) for f in sorted(tmp_path.glob("train_*.h5"))]
    assert len(grids) == 6 and all(np.isfinite(g.vars).all() for g in grids)
