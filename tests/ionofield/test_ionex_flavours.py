"""Every IONEX flavour of the shared real data reads: .Z, .gz, plain, long IGS names,
1- and 2-hourly maps, fractional-second epochs (CAS). Skips without ../shared."""

from __future__ import annotations

import datetime as dt
import gzip

import numpy as np
import pytest

from ionofield.ionex import read_ionex, read_text

FILES = {
    # name: (maps, first epoch, step [h])
    "codg0080.20i.Z": (25, dt.datetime(2020, 1, 8, 0), 1),
    "esag0080.20i.Z": (13, dt.datetime(2020, 1, 8, 0), 2),
    "jplg0010.22i.gz": (13, dt.datetime(2022, 1, 1, 0), 2),
    "IGS0OPSFIN_20243490000_01D_02H_GIM.INX.gz": (13, dt.datetime(2024, 12, 14, 0), 2),
    "casg0010.99i.Z": (12, dt.datetime(1999, 1, 1, 1), 2),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_real_file_reads_with_grid_epochs_and_rms(shared_dir, name):
    n, first, step = FILES[name]
    m = read_ionex(shared_dir / "data" / "ionofield" / name)
    assert len(m.epochs) == n and m.epochs[0] == first
    assert all((b - a) == dt.timedelta(hours=step) for a, b in zip(m.epochs, m.epochs[1:]))
    assert m.tec_tecu.shape == (n, 71, 73) and m.rms_tecu.shape == (n, 71, 73)
    assert np.all(np.isfinite(m.tec_tecu)) and 0 <= np.nanmin(m.tec_tecu)
    assert 3.0 < np.mean(m.tec_tecu) < 80.0  # plausible global mean VTEC [TECU]
    np.testing.assert_array_equal(m.tec_tecu[..., 0], m.tec_tecu[..., -1])  # same meridian


def test_fractional_second_epochs_of_cas(shared_dir):
    text = read_text(shared_dir / "data" / "ionofield" / "casg0010.99i.Z")
    assert "0.00" in next(x for x in text.splitlines() if "EPOCH OF FIRST MAP" in x)
    m = read_ionex(shared_dir / "data" / "ionofield" / "casg0010.99i.Z")
    assert m.epochs[-1] == dt.datetime(1999, 1, 1, 23)


def test_plain_and_recompressed_copies_read_the_same(shared_dir, tmp_path):
    src = shared_dir / "data" / "ionofield" / "jplg0020.22i.gz"
    plain = tmp_path / "jplg0020.22i"
    plain.write_bytes(gzip.decompress(src.read_bytes()))
    renamed = tmp_path / "JPL0OPSFIN_20220020000_01D_02H_GIM.INX"  # long name, no suffix magic
    renamed.write_bytes(plain.read_bytes())
    a, b, c = read_ionex(src), read_ionex(plain), read_ionex(renamed)
    np.testing.assert_array_equal(a.tec_tecu, b.tec_tecu)
    np.testing.assert_array_equal(a.tec_tecu, c.tec_tecu)
