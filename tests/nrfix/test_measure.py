"""One measurement: before and after on the input's cells; ADM surface integrals; 'worse'."""

from __future__ import annotations

import numpy as np
import pytest

from nrfix.api import measure_correction, summarize
from nrfix.data import generate, grid_coords
from nrfix.measure import cell_mask, fields


def _grid(family: str, params: dict, n: int = 24, box: float = 6.0):
    dx = box / n
    return generate(family, params, (n, n, n), dx, np.full(3, -box / 2 + dx / 2))


@pytest.fixture(scope="module")
def kerr_schild():
    return _grid("kerr_schild", {"punctures": [{"m": 1.0, "pos": [0.02, 0.03, 0.05]}]})


def _cheat(g) -> np.ndarray:
    """A 'correction' that pushes chi below the excision threshold around the singularity,
    where |Ham| is largest: a mask from the output's chi drops those cells."""
    y = g.vars.copy()
    n, dx = g.vars.shape[1], g.dx
    xyz = grid_coords((n, n, n), dx, np.full(3, -n * dx / 2 + dx / 2))
    y[0] *= 1.0 - 0.99 * np.exp(-(xyz**2).sum(0))
    return y


def test_before_after_on_input_cells(kerr_schild):
    """Fails with a summarize that excises with the output's chi (issue 25: on exact
    Kerr-Schild data it reported '18x better' for a 1.9x worse output)."""
    x, dx = kerr_schild.vars, kerr_schild.dx
    y = _cheat(kerr_schild)
    mask = cell_mask(x)
    ham_y = fields(y, dx)["ham"]
    cmp = measure_correction(x, y, dx)
    assert cmp["before"]["cells"] == cmp["after"]["cells"] == mask.sum()
    assert cmp["after"]["ham_rms"] == pytest.approx(np.sqrt(np.mean(ham_y[mask] ** 2)), rel=1e-12)
    assert cmp["after"]["ham_median"] == pytest.approx(np.median(ham_y[mask]), rel=1e-12)
    assert summarize(y, dx, reference=x) == cmp["after"]
    own = summarize(y, dx)  # the old way: fewer cells, a larger (false) improvement
    assert own["cells"] < mask.sum() and own["ham_rms"] < 0.7 * cmp["after"]["ham_rms"]


def test_worse_is_reported(kerr_schild):
    x, dx = kerr_schild.vars, kerr_schild.dx
    y = x.copy()
    y[0] *= 1.0 + 1e-3 * np.sin(np.arange(x.shape[1]) * 0.7)[:, None, None]
    cmp = measure_correction(x, y, dx)
    assert any(w.startswith("median |Ham|") and "x worse" in w for w in cmp["worse"])


def test_identity_is_not_worse(kerr_schild):
    cmp = measure_correction(kerr_schild.vars, kerr_schild.vars.copy(), kerr_schild.dx)
    assert cmp["worse"] == [] and cmp["adm_mass_change"] == 0.0
    assert all(r == 1.0 for k, r in cmp["ratio"].items() if not k.startswith("mom_rel"))


def test_mask_from_input_chi(kerr_schild):
    x = kerr_schild.vars.copy()
    x[0, 10:12, 10:12, 10:12] = 0.01
    m = cell_mask(x)
    assert m.shape == tuple(s - 4 for s in x.shape[1:]) and (~m).sum() == 8


def test_adm_mass_and_momentum():
    """Schwarzschild: the box integral of the analytic flux 4 M psi^3 x_i / r^3 (midpoint rule
    on the same faces); Bowen-York: P_ADM ~ P (psi -> 1 far out)."""
    m, n, box = 0.5, 32, 16.0
    g = _grid("schwarzschild", {"punctures": [{"m": m, "pos": [0, 0, 0]}]}, n, box)
    dx = g.dx
    c = -box / 2 + dx / 2 + dx * np.arange(2, n - 2)
    face, total = c[-1], 0.0
    a, b = np.meshgrid(c, c, indexing="ij")
    r = np.sqrt(face**2 + a**2 + b**2)
    total = 6 * np.sum(4 * m * (1 + m / (2 * r)) ** 3 * face / r**3) * dx * dx
    assert summarize(g.vars, dx)["adm_mass"] == pytest.approx(total / (16 * np.pi), rel=1e-3)
    assert total / (16 * np.pi) == pytest.approx(m, rel=0.2)
    p = [0.2, -0.1, 0.05]
    by = _grid("bowen_york", {"punctures": [{"m": 0.3, "pos": [0.1, 0, 0], "P": p}]}, n, box)
    got = summarize(by.vars, by.dx)["adm_momentum"]
    assert np.allclose(got, p, rtol=0.1, atol=0.01)


def test_evaluate_measures_on_the_first_files_cells(kerr_schild, tmp_path):
    import json

    from click.testing import CliRunner

    from nrfix.cli import cli
    from nrfix.formats import GridData, write_hdf5

    a = write_hdf5(tmp_path / "in.h5", kerr_schild)
    y = _cheat(kerr_schild)
    b = write_hdf5(tmp_path / "out.h5", GridData(y, kerr_schild.dx, kerr_schild.origin))
    res = CliRunner().invoke(cli, ["evaluate", str(a), str(b), "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert rows[str(a)]["cells"] == rows[str(b)]["cells"]
    assert rows[str(b)] == measure_correction(kerr_schild.vars, y, kerr_schild.dx)["after"]
    res = CliRunner().invoke(cli, ["evaluate", str(b), "--reference", str(a), "--json"])
    assert json.loads(res.output)[str(b)]["cells"] == rows[str(a)]["cells"]


def test_region_rms_splits_the_input_cells(kerr_schild):
    """Held + bulk cells are the input's cells, their RMS combine to the whole RMS, and the
    singularity's neighbourhood holds most of Ham^2."""
    from nrfix.measure import region_rms, stats
    from nrfix.newton import excision_mask

    x, dx = kerr_schild.vars, kerr_schild.dx
    held = excision_mask(x[0], 0.05, 2)
    r = region_rms(x, x, dx, held)
    mask = cell_mask(x)
    s = stats(x, dx, mask)
    assert r["held_cells"] + r["bulk_cells"] == mask.sum() and r["held_cells"] > 0
    for name in ("ham", "mom"):
        total = (
            r["held_cells"] * r[f"{name}_rms_held"] ** 2
            + r["bulk_cells"] * r[f"{name}_rms_bulk"] ** 2
        )
        assert np.sqrt(total / mask.sum()) == pytest.approx(s[f"{name}_rms"], rel=1e-12)
    assert r["ham_rms_held"] > 10 * r["ham_rms_bulk"] and r["ham2_share_held"] > 0.5
