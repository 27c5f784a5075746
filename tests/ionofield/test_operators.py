"""Observation operators, physical inputs and the plasmasphere, checked against physics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ionofield import geometry, operators, plasmasphere
from ionofield.tec import chapman_ne, chapman_tec_tecu

T_2022 = 1641038400.0  # 2022-01-01 12:00 UTC


@pytest.mark.parametrize("dtype,rtol", [(torch.float32, 2e-3), (torch.float64, 2e-3)])
def test_column_vtec_matches_chapman_closed_form(dtype, rtol):
    """Trapezoid VTEC of a Chapman layer = Nm H sqrt(2 pi e) (the tail above 1500 km < 0.1%)."""
    alt = np.arange(60.0, 1500.0, 2.0)
    nm, hm, h = 1.0e12, 300.0, 55.0
    log_ne = torch.as_tensor(np.log10(np.maximum(chapman_ne(alt, nm, hm, h), 1e-30)), dtype=dtype)
    vtec = operators.column_vtec(log_ne, torch.as_tensor(alt, dtype=dtype))
    np.testing.assert_allclose(float(vtec), chapman_tec_tecu(nm, h), rtol=rtol)
    assert abs(float(vtec) - 1.1 * chapman_tec_tecu(nm, h)) > 1.0  # a 10 % error would fail


def test_column_vtec_is_differentiable_and_adds_plasmasphere():
    alt = torch.linspace(100.0, 1000.0, 46, dtype=torch.float64)
    log_ne = torch.full((3, 46), 11.0, dtype=torch.float64, requires_grad=True)
    scale = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    v = operators.column_vtec(log_ne, alt, torch.full((3,), 3.0, dtype=torch.float64), scale)
    np.testing.assert_allclose(v.detach().numpy(), 9.0 + 3.0 * scale.numpy())  # 1e11 m^-3 * 900 km
    v.sum().backward()  # dVTEC / dlog10Ne = ln10 Ne dh 1e-13 > 0
    assert torch.all(log_ne.grad > 0)


def test_rms_weighting_downweights_uncertain_cells():
    obs = torch.tensor([10.0, 10.0, float("nan")])
    pred = torch.tensor([11.0, 14.0, 0.0])
    loose = operators.rms_weighted_mse(pred, obs, torch.tensor([1.0, 4.0, 1.0]))
    even = operators.rms_weighted_mse(pred, obs, torch.tensor([1.0, 1.0, 1.0]))
    assert float(loose) < float(even)
    assert math.isfinite(float(loose))


def test_slant_tec_at_zenith_is_vertical_and_grows_with_obliquity():
    def ne(lat, lon, alt):
        return chapman_ne(alt, 1e12, 350.0, 60.0)

    vert = chapman_tec_tecu(1e12, 60.0)
    assert operators.slant_tec(ne, 10.0, 20.0, 0.0, 90.0, 1500.0, 3000) == pytest.approx(
        vert, rel=2e-3
    )
    low = operators.slant_tec(ne, 10.0, 20.0, 45.0, 30.0, 1500.0, 3000)
    # thin-shell mapping at 350 km: 1 / cos(zenith at the shell)
    z = math.asin(6371.0 / 6721.0 * math.cos(math.radians(30.0)))
    assert low == pytest.approx(vert / math.cos(z), rel=0.03)


def test_features_have_no_seam_and_no_absolute_time():
    lat = np.array([-30.0, 0.0, 45.0])
    t = np.full(3, T_2022)
    a = geometry.features(lat, np.full(3, -180.0), t)
    b = geometry.features(lat, np.full(3, 180.0), t)
    np.testing.assert_allclose(a, b, atol=1e-6)
    # the same UT and day of year one year later differs only through space weather
    c = geometry.features(lat, np.full(3, 10.0), t)
    d = geometry.features(lat, np.full(3, 10.0), t + 365 * 86400.0)
    geo = slice(0, 9)
    np.testing.assert_allclose(c[:, geo], d[:, geo], atol=2e-2)


def test_solar_zenith_and_magnetic_latitude():
    # noon at the subsolar latitude (about -23 deg on 1 January): the sun is overhead
    cos_sza = geometry.cos_solar_zenith(np.array([-23.0]), np.array([0.0]), np.array([T_2022]))
    assert cos_sza[0] > 0.999
    midnight = geometry.cos_solar_zenith(np.array([0.0]), np.array([180.0]), np.array([T_2022]))
    assert midnight[0] < -0.9
    pole = geometry.magnetic_latitude_deg(np.array([80.65]), np.array([-72.68]))
    assert pole[0] == pytest.approx(90.0, abs=1e-6)


def test_plasmasphere_content_is_a_few_tecu_at_low_latitude_and_none_at_the_poles():
    mlat = np.array([0.0, 30.0, 60.0, 80.0])
    n = mlat.size
    pec = plasmasphere.vtec_tecu(mlat, np.full(n, 8.0), np.full(n, 80.0), np.full(n, 1.0))
    assert 1.5 < pec[0] < 6.0  # published plasmaspheric content: a few TECU at low latitudes
    assert np.all(np.diff(pec) < 0) and pec[-1] < 0.05
    stormy = plasmasphere.vtec_tecu(mlat, np.full(n, 8.0), np.full(n, 80.0), np.full(n, 7.0))
    assert stormy[1] < pec[1]  # a compressed plasmapause (high Kp) holds less


def test_ca92_equatorial_density_formula():
    """log10 n = -0.3145 L + 3.9043 at L = 3, day 356 (season term ~0), R = 50 (solar term 0)."""
    f107_r50 = 63.7 + 0.728 * 50 + 8.9e-4 * 2500
    got = plasmasphere.equatorial_log10_ne_cm3(np.array([3.0]), 356.0, f107_r50, 0.0)
    season = 0.15 * math.cos(2 * math.pi * 365 / 365) - 0.075 * math.cos(4 * math.pi * 365 / 365)
    assert got[0] == pytest.approx(-0.3145 * 3 + 3.9043 + season, abs=1e-3)


def test_pec_maps_add_a_few_tecu_at_low_latitude():
    lat = np.array([60.0, 0.0, -60.0])
    lon = np.array([-180.0, 0.0, 180.0])
    pec = plasmasphere.pec_maps(lat, lon, np.array([T_2022]), 1000.0)
    assert pec.shape == (1, 3, 3)
    assert 1.0 < pec[0, 1].mean() < 6.0 and pec[0, 1].mean() > pec[0, 0].mean()
    np.testing.assert_allclose(pec[..., 0], pec[..., -1])  # same meridian


def test_column_net_has_no_seam():
    from ionofield.gimfit import ColumnNet

    torch.manual_seed(0)
    net = ColumnNet(0, hidden=16, layers=2, fourier=8, sigma=2.0)
    torch.nn.init.normal_(net.head.weight)  # the zero-initialised head would hide a seam
    lat, t = np.array([-45.0, 10.0]), np.full(2, T_2022)
    west = torch.as_tensor(geometry.features(lat, np.full(2, -180.0), t))
    east = torch.as_tensor(geometry.features(lat, np.full(2, 180.0), t))
    near = torch.as_tensor(geometry.features(lat, np.full(2, 170.0), t))
    empty = torch.zeros(2, 0)
    a_w, a_e, a_n = (net(f, empty)[0] for f in (west, east, near))
    assert torch.allclose(a_w, a_e, atol=1e-5) and not torch.allclose(a_w, a_n, atol=1e-5)
