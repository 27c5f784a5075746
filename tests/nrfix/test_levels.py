"""GRChombo / AMReX readers: every level readable, --level picks one, a clear list otherwise."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from nrfix.cli import cli
from nrfix.data import generate
from nrfix.formats import DataError, read_any, write_chombo

PLOTFILE = Path(__file__).resolve().parents[3] / "shared/data/nrfix/plt00008_compare"


def _two_level_chombo(tmp_path: Path) -> Path:
    """A Chombo file whose level 1 is a finer copy of level 0 (same cells, dx / 2)."""
    g = generate("schwarzschild", {"punctures": [{"m": 0.5, "pos": [0, 0, 0.1]}]}, (12,) * 3,
                 0.4, np.full(3, -2.2))  # fmt: skip
    path = write_chombo(tmp_path / "two.hdf5", g)
    with h5py.File(path, "a") as f:
        f.copy("level_0", "level_1")
        f["level_1"].attrs["dx"] = 0.2
        f["level_1/data:datatype=0"][...] = f["level_1/data:datatype=0"][()] * 1.0
        f.attrs["num_levels"] = 2
    return path


def test_chombo_levels(tmp_path):
    path = _two_level_chombo(tmp_path)
    with pytest.raises(DataError, match=r"2 refinement levels: 0 \(12x12x12 cells, dx 0.4\), "
                       r"1 \(12x12x12 cells, dx 0.2\); pick one with --level"):  # fmt: skip
        read_any(path)
    assert read_any(path, level=1).dx == 0.2 and read_any(path, level=0).dx == 0.4
    with pytest.raises(DataError, match="no level 2"):
        read_any(path, level=2)
    res = CliRunner().invoke(cli, ["correct", str(path), str(tmp_path / "o.h5")])
    assert res.exit_code == 1 and "--level" in res.output
    res = CliRunner().invoke(
        cli,
        [
            "correct",
            str(path),
            str(tmp_path / "o.h5"),
            "--level",
            "1",
            "--no-momentum",
            "--iterations",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output


@pytest.mark.skipif(not PLOTFILE.is_dir(), reason="shared AMReX plotfile not present")
def test_plotfile_level_listing():
    g = read_any(PLOTFILE)
    assert g.attrs["level"] == 0 and g.vars.shape == (25, 32, 32, 16)
    with pytest.raises(DataError, match=r"no level 1; the file has levels 0 \(32x32x16 cells"):
        read_any(PLOTFILE, level=1)
