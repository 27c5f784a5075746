"""Optimal interpolation of points onto IRI: it fits the data and returns to IRI away from it."""

from __future__ import annotations

import numpy as np

from ionofield.assim import Increment, OISettings


def _profile(lat: float, lon: float, t: float, resid: float) -> tuple:
    alt = np.arange(200.0, 600.0, 20.0)
    n = alt.size
    return np.full(n, lat), np.full(n, lon), alt, np.full(n, t), np.full(n, resid)


def test_increment_fits_nearby_and_decays_to_zero_far_in_space_and_time():
    lat, lon, alt, t, r = _profile(30.0, -120.0, 1.7e9, 0.3)
    inc = Increment(lat, lon, alt, t, r, OISettings())
    near = inc.at_points(lat, lon, alt, t)
    assert np.all(near > 0.2) and np.all(near < 0.3)  # pulled to the data, shrunk by noise
    far_day = inc.at_points(lat, lon, alt, t + 5 * 86400.0)  # same place, 5 days later
    far_place = inc.at_points(-lat, lon + 180.0, alt, t)  # antipode, same time
    far_alt = inc.at_points(lat, lon, alt + 2000.0, t)
    assert np.max(np.abs(far_day)) < 1e-6 and np.max(np.abs(far_place)) < 1e-6
    assert np.max(np.abs(far_alt)) < 1e-6


def test_increment_is_seam_free_and_columns_match_points():
    lat, lon, alt, t, r = _profile(10.0, 179.0, 1.7e9, -0.2)
    inc = Increment(lat, lon, alt, t, r)
    a = inc.at_points(np.array([10.0]), np.array([-180.0]), np.array([300.0]), np.array([1.7e9]))
    b = inc.at_points(np.array([10.0]), np.array([180.0]), np.array([300.0]), np.array([1.7e9]))
    assert abs(a[0]) > 0.05 and np.isclose(a[0], b[0], atol=1e-9)
    grid = np.array([250.0, 300.0, 350.0])
    cols = inc.on_columns(np.array([12.0]), np.array([-178.0]), np.array([1.7e9 + 600]), grid)
    pts = inc.at_points(np.full(3, 12.0), np.full(3, -178.0), grid, np.full(3, 1.7e9 + 600))
    assert np.allclose(cols[0], pts, atol=1e-9)
