"""IONEX reader/writer on the real CODE map of 2020-01-08."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from ionofield.errors import DataFormatError
from ionofield.ionex import IonexMaps, read_ionex, write_ionex


@pytest.fixture(scope="module")
def code_file(shared_dir):
    return shared_dir / "data" / "ionofield" / "codg0080.20i.Z"


@pytest.fixture(scope="module")
def code_maps(code_file):
    return read_ionex(code_file)


def test_code_grid_and_epochs(code_maps):
    m = code_maps
    assert len(m.epochs) == 25 and m.tec_tecu.shape == (25, 71, 73)
    assert m.epochs[0] == dt.datetime(2020, 1, 8) and m.epochs[-1] == dt.datetime(2020, 1, 9)
    assert m.lat_deg[0] == 87.5 and m.lat_deg[-1] == -87.5
    assert m.lon_deg[0] == -180.0 and m.lon_deg[-1] == 180.0
    assert m.rms_tecu is not None and m.rms_tecu.shape == (25, 71, 73)
    np.testing.assert_array_equal(m.tec_tecu[..., 0], m.tec_tecu[..., -1])  # duplicate meridian


def test_code_spot_values(code_maps):
    """Cells read by eye from the file (exponent -1: 0.1 TECU units)."""
    tec = code_maps.tec_tecu
    np.testing.assert_allclose(tec[0, 0, :4], [0.5, 0.5, 0.6, 0.6])  # map 1, lat 87.5
    np.testing.assert_allclose(tec[0, 1, :3], [0.7, 0.7, 0.8])  # map 1, lat 85.0
    np.testing.assert_allclose(code_maps.rms_tecu[-1, -1, -3:], [1.0, 1.0, 1.0])
    # the header comment lists each map's peak in 0.1 TECU: 317 297 259 237 ... 293
    peaks = np.nanmax(tec, axis=(1, 2))
    np.testing.assert_allclose(peaks[[0, 1, 2, 3, 21, 24]], [31.7, 29.7, 25.9, 23.7, 32.3, 29.3])


def test_truncated_file_rejected(code_file, tmp_path):
    from ionofield.ionex import read_text

    lines = read_text(code_file).splitlines()
    cut = tmp_path / "cut.20i"
    cut.write_text("\n".join(lines[: len(lines) // 3]) + "\n")
    with pytest.raises(DataFormatError, match="cut.20i: .*truncated"):
        read_ionex(cut)
    broken = tmp_path / "broken.20i.Z"
    broken.write_bytes(code_file.read_bytes()[:5000])
    with pytest.raises(DataFormatError, match="broken.20i.Z"):
        read_ionex(broken)
    with pytest.raises(DataFormatError, match="file not found"):
        read_ionex(tmp_path / "missing.20i")


def test_missing_values_and_roundtrip(tmp_path):
    lat = np.arange(87.5, -88.0, -2.5)
    lon = np.arange(-180.0, 181.0, 5.0)
    rng = np.random.default_rng(0)
    tec = np.round(rng.uniform(0, 80, (3, 71, 73)), 1)
    tec[..., -1] = tec[..., 0]
    tec[1, 10, 20] = np.nan
    epochs = [dt.datetime(2015, 3, 16, h) for h in range(3)]
    path = tmp_path / "sim.15i"
    write_ionex(path, IonexMaps(epochs, lat, lon, tec, None, 450.0), comment="test")
    back = read_ionex(path)
    assert np.isnan(back.tec_tecu[1, 10, 20]) and back.rms_tecu is None
    np.testing.assert_allclose(back.tec_tecu, tec, atol=1e-9)
    assert back.epochs == epochs
