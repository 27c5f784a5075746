"""Forecast and nowcast on the real GIMs (coarse IRI grid, few steps; skip without ../shared)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ionofield import forecast as fc
from ionofield import gimfit
from ionofield.cli import cli
from ionofield.config import IRIConfig
from ionofield.ionex import read_ionex
from ionofield.iri import IRIBackground
from ionofield.nowcast import map_columns


@pytest.fixture(scope="module")
def coarse_iri(iri_cache):
    return IRIConfig(dlat_deg=10.0, dlon_deg=20.0, dalt_km=60.0, cache_dir=str(iri_cache))


@pytest.fixture(scope="module")
def gim_dir(shared_dir):
    return shared_dir / "data" / "ionofield"


def test_forecast_never_sees_the_target_day(gim_dir, coarse_iri):
    days = fc.read_days([gim_dir / "jplg0020.22i.gz", gim_dir / "jplg0010.22i.gz"])  # any order
    data = fc.prepare(days, coarse_iri)
    assert str(data.target_day) == "2022-01-03"
    assert torch.all(torch.isnan(data.target.obs))  # no observation of day D+1 is loaded
    assert data.val.lat.size and data.train.lat.size
    # the previous-day input of the target is day D's log ratio, not day D+1's
    assert data.target.extra.shape == (data.target.lat.size, 1)
    fs = fc.ForecastSettings(hidden=8, fit=gimfit.FitSettings(steps=30, batch=512, eval_every=15))
    pred, rec = fc.run(data, fs, seed=0)
    assert pred.shape == days[-1].tec.shape and np.all(np.isfinite(pred))
    persist = np.sqrt(np.mean((pred - days[-1].tec) ** 2))
    assert persist < 5.0  # starts from yesterday's residual: close to persistence, not to IRI


def test_one_day_forecast_is_the_prior_scaled_by_that_days_ratio(gim_dir, coarse_iri):
    """One day of maps has no training pair: nothing is fitted, the field is a = rho_D."""
    days = fc.read_days([gim_dir / "jplg0010.22i.gz"])
    data = fc.prepare(days, coarse_iri)
    assert str(data.target_day) == "2022-01-02" and data.train.lat.size == 0
    res = fc.select_and_run(data, fc.default_candidates(), seeds=[0, 1, 2])
    ((pred, rec),) = res["runs"][res["chosen"]]  # one deterministic run
    assert rec["trained"] is False
    t = data.target
    iono = gimfit.column_vtec(t.iri.double() + t.extra.double(), t.alt.double()).numpy()
    expect = (iono + t.pec.double().numpy()).reshape(pred.shape)
    np.testing.assert_allclose(pred, expect, rtol=1e-4, atol=1e-3)


def test_forecast_refuses_a_gap(gim_dir, coarse_iri):
    from common.errors import UserError

    with pytest.raises(UserError, match="consecutive"):
        fc.read_days([gim_dir / "jplg0010.22i.gz", gim_dir / "jplg0030.22i.gz"])


def test_one_day_nowcast_beats_iri_on_withheld_cells(gim_dir, coarse_iri):
    """Fit two CODE maps without every fourth meridian (5 deg wide, 20 deg apart); score those."""
    code = read_ionex(gim_dir / "codg0080.20i.Z")
    keep = [0, 12]
    from dataclasses import replace

    two = replace(code, epochs=[code.epochs[i] for i in keep], tec_tecu=code.tec_tecu[keep],
                  rms_tecu=code.rms_tecu[keep])  # fmt: skip
    cols = map_columns(two, IRIBackground(coarse_iri))
    sector = np.round((cols.lon + 180.0) / 5.0).astype(int) % 4 == 0
    train, held = cols.subset(np.flatnonzero(~sector)), cols.subset(np.flatnonzero(sector))
    torch.manual_seed(0)
    net = gimfit.ColumnNet(0, hidden=32, layers=2, fourier=8)
    gimfit.fit(net, train, None, gimfit.FitSettings(steps=300, batch=1024, eval_every=100))
    obs = held.obs.numpy()
    fit_rmse = np.sqrt(np.mean((gimfit.predict_vtec(net, held) - obs) ** 2))
    iri_rmse = np.sqrt(np.mean((gimfit.prior_vtec(held).numpy() - obs) ** 2))
    assert fit_rmse < 0.7 * iri_rmse


def test_ingest_ro_writes_profiles_of_any_date(gim_dir, tmp_path, coarse_iri):
    from ionofield import ro
    from ionofield.data import read_observations

    files = sorted(str(p) for p in gim_dir.glob("ionPrf_*.nc"))
    out = tmp_path / "ro.h5"
    ro.write(out, ro.ingest(files, coarse_iri), files)
    table = read_observations(out)
    assert set(np.unique(table["profile_id"])) == set(range(len(files)))
    days = np.unique(np.floor(table["time_s"] / 86400.0))
    assert days.size == 2  # 2024-05-08 and 2024-10-16 in one table


def test_ingest_ro_cli_refuses_a_non_profile(tmp_path):
    bad = tmp_path / "ionPrf_bad.nc"
    bad.write_text("not netcdf")
    res = CliRunner().invoke(cli, ["ingest-ro", str(bad), "--out", str(tmp_path / "o.h5")])
    assert res.exit_code != 0 and "ionPrf_bad.nc" in res.output
    assert not (tmp_path / "o.h5").exists()


def test_nowcast_fits_a_map_and_points_and_writes_residuals_per_type(gim_dir, coarse_iri, tmp_path):
    import json
    from dataclasses import replace

    import h5py

    from ionofield import nowcast as nc

    code = read_ionex(gim_dir / "codg0080.20i.Z")
    one = replace(code, epochs=code.epochs[:2], tec_tecu=code.tec_tecu[:2],
                  rms_tecu=code.rms_tecu[:2])  # fmt: skip
    t0 = (code.epochs[0] - dt.datetime(1970, 1, 1)).total_seconds()
    alt = np.arange(150.0, 800.0, 50.0)
    obs = {"lat": np.full(alt.size, 30.0), "lon": np.full(alt.size, 10.0), "alt_km": alt,
           "time_s": np.full(alt.size, t0 + 1800.0), "log10_ne": np.full(alt.size, 11.0),
           "source": np.ones(alt.size, np.int8)}  # fmt: skip
    ns = nc.NowcastSettings(hidden=16, layers=1, fourier=4)
    ns = replace(ns, fit=replace(ns.fit, steps=20, batch=512, eval_every=10))
    net, rec = nc.fit_day(one, coarse_iri, ns, seed=0, obs=obs)
    assert rec["profile"]["n"] == alt.size and np.isfinite(rec["profile"]["rmse_log10"])
    nc.write_outputs(tmp_path, net, one, coarse_iri, rec)
    res = json.loads((tmp_path / "residuals.json").read_text())
    assert set(res) >= {"gim", "profile"}
    with h5py.File(tmp_path / "field.h5") as h5:
        assert h5["log10_ne"].shape == (2, h5["alt_km"].size, 71, 73)
    assert read_ionex(tmp_path / "vtec.i").tec_tecu.shape == (2, 71, 73)


def test_points_of_another_day_leave_the_gim_fit_unchanged(gim_dir, coarse_iri):
    """The profile increment decays: same-day points move the field, points 10 days later
    leave the GIM fit exactly as it was (and the analysis fits its points better than it)."""
    from dataclasses import replace

    from ionofield import nowcast as nc

    code = read_ionex(gim_dir / "codg0080.20i.Z")
    one = replace(code, epochs=code.epochs[:2], tec_tecu=code.tec_tecu[:2],
                  rms_tecu=code.rms_tecu[:2])  # fmt: skip
    t0 = (code.epochs[0] - dt.datetime(1970, 1, 1)).total_seconds()
    alt = np.arange(150.0, 800.0, 25.0)

    def obs(t: float) -> dict:
        return {"lat": np.full(alt.size, 30.0), "lon": np.full(alt.size, 10.0), "alt_km": alt,
                "time_s": np.full(alt.size, t), "log10_ne": np.full(alt.size, 11.8),
                "source": np.ones(alt.size, np.int8)}  # fmt: skip

    ns = nc.NowcastSettings(hidden=16, layers=1, fourier=4)
    ns = replace(ns, fit=replace(ns.fit, steps=20, batch=512, eval_every=10))
    near, rec = nc.fit_day(one, coarse_iri, ns, seed=0, obs=obs(t0 + 600.0))
    far, _ = nc.fit_day(one, coarse_iri, ns, seed=0, obs=obs(t0 + 10 * 86400.0))
    base = nc.vtec_maps(nc.Analysis(far.net), one, coarse_iri)
    np.testing.assert_allclose(nc.vtec_maps(far, one, coarse_iri), base, atol=1e-4)
    assert np.max(np.abs(nc.vtec_maps(near, one, coarse_iri) - base)) > 0.1
    assert rec["profile"]["rmse_log10"] < rec["profile"]["gim_fit_rmse_log10"]


def test_validation_and_test_splits_are_disjoint(tiny_cfg, tiny_prepared):
    from ionofield.prepare import test_indices

    prep, (train, val) = tiny_prepared
    test = test_indices(tiny_cfg, prep)
    assert val.size and test.size
    assert not set(val) & set(test) and not set(train) & set(test) and not set(train) & set(val)


def test_nowcast_from_profiles_alone(gim_dir, tmp_path, coarse_iri):
    """RO only (no GIM): the field is fitted to one day's profiles and written on a grid."""
    from ionofield import nowcast as nc
    from ionofield import ro

    files = sorted(str(p) for p in gim_dir.glob("ionPrf_*2024.129*.nc"))
    table = ro.ingest(files, coarse_iri)
    net, rec, maps = nc.fit_points_only(table, coarse_iri)
    assert rec["profile"]["rmse_log10"] < rec["profile"]["iri_rmse_log10"]  # in-sample
    assert len(maps.epochs) == 1  # both profiles fall in the 20 UT hour
    nc.write_outputs(tmp_path, net, maps, coarse_iri, rec)
    assert (tmp_path / "field.h5").is_file() and (tmp_path / "vtec.i").is_file()
    with pytest.raises(Exception, match="one day"):
        nc.fit_points_only(ro.ingest(sorted(str(p) for p in gim_dir.glob("ionPrf_*.nc")),
                                     coarse_iri), coarse_iri)  # fmt: skip
