"""Observation tables, the COSMIC-2 profile reader, the scenario generator and batching."""

from __future__ import annotations

import numpy as np
import pytest

from ionofield.data import (
    TimeBinnedBatchSampler,
    holdout_mask,
    read_ionprf,
    read_observations,
    write_observations,
)
from ionofield.errors import DataFormatError


def test_cosmic2_profile(shared_dir):
    prof = read_ionprf(shared_dir / "data" / "ionofield" / "ionPrf_C2E6.2024.290.20.08.R02_0001.nc")
    assert prof["alt_km"].size > 300
    peak = int(np.argmax(prof["log10_ne"]))
    # file attributes: edmax 2.11e6 cm^-3 at edmaxalt 300.8 km
    assert 10 ** prof["log10_ne"][peak] == pytest.approx(2.112e12, rel=0.02)
    assert prof["alt_km"][peak] == pytest.approx(300.8, abs=3.0)
    assert np.all(np.abs(prof["lat"]) <= 90)


def test_bad_netcdf(tmp_path):
    bad = tmp_path / "bad.nc"
    bad.write_text("not netcdf")
    with pytest.raises(DataFormatError, match="bad.nc: not a COSMIC-2"):
        read_ionprf(bad)


def test_table_roundtrip_and_errors(tmp_path):
    cols = {
        "lat": [10.0, 20.0],
        "lon": [5.0, -170.0],
        "alt_km": [300.0, 836.0],
        "time_s": [1.4e9, 1.4e9 + 60],
        "log10_ne": [11.5, 10.2],
    }
    write_observations(tmp_path / "o.h5", {k: np.array(v) for k, v in cols.items()})
    back = read_observations(tmp_path / "o.h5")
    np.testing.assert_allclose(back["log10_ne"], cols["log10_ne"])
    csv = tmp_path / "o.csv"
    csv.write_text("lat,lon,alt_km,time,log10_ne\n10,5,300,2015-03-16T01:00:00Z,11.5\n")
    assert read_observations(csv)["time_s"][0] == pytest.approx(1426467600.0)
    csv.write_text("lat,lon,alt_km,log10_ne\n10,5,300,11.5\n")
    with pytest.raises(DataFormatError, match="o.csv: missing column"):
        read_observations(csv)
    csv.write_text("lat,lon,alt_km,time_s,log10_ne\n100,5,300,0,11.5\n")
    with pytest.raises(DataFormatError, match="latitude"):
        read_observations(csv)


def test_scenario_contents(tiny_scenario, tiny_cfg):
    from ionofield.data import load_scenario
    from ionofield.simulate import orbit_track

    sc = load_scenario(tiny_scenario)
    o = sc.obs
    insitu = o["source"] == 0
    assert np.allclose(o["alt_km"][insitu], 836.0)
    assert o["alt_km"][~insitu].min() == pytest.approx(100.0)
    assert sc.tec_tecu.shape == (25, 71, 73) and np.isfinite(sc.tec_tecu).all()
    # sun-synchronous: in-situ local times cluster near 14 LT (ascending) and 02 LT
    lt = np.mod(o["time_s"][insitu] / 3600.0 + o["lon"][insitu] / 15.0, 24.0)
    near = np.minimum(np.abs(lt - 14.0), np.abs(lt - 2.0))
    assert np.median(near) < 1.0
    lat, _ = orbit_track(np.arange(0, 6100.0, 10.0), tiny_cfg.sim)
    assert lat.max() == pytest.approx(90 - (tiny_cfg.sim.inclination_deg - 90), abs=0.1)
    # noise level is the configured one
    res = (o["log10_ne"] - o["log10_ne_true"])[insitu]
    assert res.std() == pytest.approx(tiny_cfg.sim.noise_insitu, rel=0.25)


def test_tec_maps_are_chapman_consistent(tiny_cfg):
    """The truth's extra TEC equals a NmF2 H sqrt(2 pi e) for a pure amplitude change."""
    from dataclasses import replace

    from ionofield.tec import chapman_ne, chapman_tec_tecu, integrate_tec_tecu

    alt = np.arange(0.0, 3000.0, 1.0)
    nm, hm, h, a = 1e12, 320.0, tiny_cfg.sim.chapman_scale_km, 0.3
    extra = nm * ((1 + a) * chapman_ne(alt, 1.0, hm + 25.0, h) - chapman_ne(alt, 1.0, hm, h))
    assert integrate_tec_tecu(extra, alt) == pytest.approx(a * chapman_tec_tecu(nm, h), rel=1e-4)
    assert replace(tiny_cfg.sim).chapman_scale_km == h


def test_sampler_bins_and_ranks():
    bins = np.repeat(np.arange(10), 50)
    s = TimeBinnedBatchSampler(bins, 64, 2, seed=3)
    for b in s.epoch(0):
        assert np.unique(bins[b]).size <= 2 and b.size == 64
    r0 = TimeBinnedBatchSampler(bins, 64, 2, seed=3, rank=0, world_size=2).epoch(1)
    r1 = TimeBinnedBatchSampler(bins, 64, 2, seed=3, rank=1, world_size=2).epoch(1)
    assert len(r0) == len(r1) and not np.array_equal(r0[0], r1[0])
    np.testing.assert_array_equal(
        s.epoch(5)[0], TimeBinnedBatchSampler(bins, 64, 2, seed=3).epoch(5)[0]
    )


def test_holdout_blocks():
    t = np.arange(0, 24 * 3600.0, 600.0)
    m = holdout_mask(t, 0.0, 3, 4)
    assert m.mean() == pytest.approx(0.25)
    assert m[(t >= 9 * 3600) & (t < 12 * 3600)].all()


def test_truth_columns_equal_points_and_one_cube_per_day(tiny_scenario, tiny_cfg, iri_cache):
    """The column path used for the TEC maps gives the point values; a 1-day scenario needs
    only that day's IRI cube (the 24:00 map uses the day's last hour slot)."""
    from ionofield.iri import IRIBackground
    from ionofield.simulate import Truth, start_time_s

    t0 = start_time_s(tiny_cfg.sim)
    truth = Truth(IRIBackground(tiny_cfg.iri), tiny_cfg.sim, t0, t0 + 86400.0)
    lat, lon = np.array([-62.5, 0.0, 37.5]), np.array([-175.0, 5.0, 120.0])
    alt, t = np.arange(80.0, 1000.1, 40.0), t0 + 13.25 * 3600.0
    cols = truth.columns(lat, lon, alt, t)
    pts = truth.log10_ne(
        np.repeat(lat, alt.size),
        np.repeat(lon, alt.size),
        np.tile(alt, 3),
        np.full(3 * alt.size, t),
    )
    np.testing.assert_allclose(cols, pts.reshape(3, alt.size), rtol=0, atol=1e-12)
    days = {p.name.split("_")[1] for p in iri_cache.glob("iri_*.npz")}
    assert days == {"20150316"}
