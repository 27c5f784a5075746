"""Kerr-Schild data with every puncture, P and S: a boosted Kerr hole is exact (4th order)."""

from __future__ import annotations

import numpy as np
import pytest

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
