"""Chapman-layer TEC and local time."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ionofield.tec import chapman_ne, chapman_tec_tecu, integrate_tec_tecu, local_time_h


@pytest.mark.parametrize("nm,hm,h", [(1e12, 300.0, 50.0), (3e11, 250.0, 80.0), (2e12, 350.0, 40.0)])
def test_chapman_tec_closed_form(nm, hm, h):
    alt = np.linspace(hm - 12 * h, hm + 60 * h, 40001)
    tec_num = integrate_tec_tecu(chapman_ne(alt, nm, hm, h), alt)
    expected = nm * h * 1e3 * math.sqrt(2 * math.pi * math.e) / 1e16
    assert tec_num == pytest.approx(expected, rel=1e-6)
    assert chapman_tec_tecu(nm, h) == pytest.approx(expected, rel=1e-12)


def test_chapman_peak_and_curvature():
    alt = np.linspace(100, 900, 801)
    ne = chapman_ne(alt, 1e12, 300.0, 60.0)
    assert alt[np.argmax(ne)] == pytest.approx(300.0)
    assert ne.max() == pytest.approx(1e12)
    d2 = np.gradient(np.gradient(np.log10(ne), alt), alt)
    assert (d2 < 0).all()  # log Ne of a Chapman layer is concave everywhere


def test_tec_unit():
    alt = np.array([0.0, 1000.0])
    assert integrate_tec_tecu(np.array([1e10, 1e10]), alt) == pytest.approx(1.0)


def test_local_time():
    assert local_time_h(12.0, 90.0) == pytest.approx(18.0)
    assert local_time_h(23.0, 30.0) == pytest.approx(1.0)
    assert local_time_h(1.0, -30.0) == pytest.approx(23.0)
