"""Readers and writers: round trips and clear errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from nrfix.data import generate
from nrfix.formats import DataError, read_any, read_plotfile, write_chombo, write_hdf5


@pytest.fixture()
def grid():
    return generate(
        "brill_lindquist",
        {"punctures": [{"m": 0.5, "pos": [0.1, 0.0, 0.2]}]},
        (8, 9, 10),
        0.3,
        np.array([-1.0, -1.1, -1.2]),
    )


def test_hdf5_round_trip(tmp_path, grid):
    path = write_hdf5(tmp_path / "a.h5", grid, {"who": "test"})
    back = read_any(path)
    assert np.array_equal(back.vars, grid.vars) and back.dx == grid.dx
    assert np.allclose(back.origin, grid.origin) and back.attrs["family"] == "brill_lindquist"


def test_chombo_round_trip(tmp_path, grid):
    grid.origin = (np.array([2, 3, 4]) + 0.5) * grid.dx
    back = read_any(write_chombo(tmp_path / "a.hdf5", grid))
    assert np.array_equal(back.vars, grid.vars) and back.vars.shape == (25, 8, 9, 10)


def test_plotfile_layout(shared_dir):
    g = read_plotfile(shared_dir / "data/nrfix/plt00008_compare")
    assert g.vars.shape == (25, 32, 32, 16) and g.dx == 0.25
    assert 0 < g.vars[0].min() < 0.1 and set(g.extra) >= {"Ham", "Mom1", "Mom2", "Mom3"}


def test_missing_variable_is_named(tmp_path, grid):
    path = write_hdf5(tmp_path / "a.h5", grid)
    with h5py.File(path, "r+") as f:
        names = f.attrs["variables"].replace('"K", ', "")
        data = np.delete(f["vars"][()], 7, axis=0)
        del f["vars"]
        f["vars"] = data
        f.attrs["variables"] = names
    with pytest.raises(DataError, match="missing variable.*K"):
        read_any(path)


def test_nan_and_garbage(tmp_path, grid):
    grid.vars[3, 1, 1, 1] = np.nan
    path = write_hdf5(tmp_path / "nan.h5", grid)
    with pytest.raises(DataError, match="h13"):
        read_any(path)
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(DataError, match="not an HDF5"):
        read_any(tmp_path / "junk.h5")


def test_wrong_shape_is_refused(tmp_path, grid):
    grid.vars = grid.vars[:, :3]
    path = write_hdf5(tmp_path / "thin.h5", grid)
    with pytest.raises(DataError, match="too small"):
        read_any(path)
    with pytest.raises(DataError, match="no such file"):
        read_any(tmp_path / "absent.h5")
