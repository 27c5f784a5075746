"""`fcpredict plot` labels the band path's high-symmetry points (phonopy's label convention)."""

from __future__ import annotations

import numpy as np

from fcpredict.plots import band_ticks


def test_band_ticks_follow_phonopy_labels_and_breaks() -> None:
    # the fcc seekpath path: G-X | U-K ... (6 segments, one break after the 2nd)
    labels = ["G", "X", "U", "K", "G", "L", "W", "X"]
    conn = [True, False, True, True, True, False]
    dist, x = [], 0.0
    for _ in conn:
        dist.append(np.linspace(x, x + 1.0, 5))
        x += 1.0
    ticks, names = band_ticks(dist, labels, conn)
    assert names == ["G", "X", "U|K", "G", "L", "W", "X"]
    assert ticks == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_band_ticks_refuse_mismatched_labels() -> None:
    dist = [np.linspace(0, 1, 3), np.linspace(1, 2, 3)]
    assert band_ticks(dist, ["G", "X"], [True, True]) == ([], [])


def test_plot_writes_labelled_png(tmp_path, monkeypatch) -> None:
    import matplotlib.axes
    from phonopy.structure.atoms import PhonopyAtoms

    from fcpredict.phonopy_io import make_phonopy
    from fcpredict.plots import plot_bands_dos

    unit = PhonopyAtoms(symbols=["Na", "Cl"], cell=np.eye(3) * 3.0,
                        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]])  # fmt: skip
    ph = make_phonopy(unit, [2, 2, 2], None)
    n = len(ph.supercell)
    fc = np.zeros((n, n, 3, 3))
    for i in range(n):  # one spring to every atom: stable, ASR holds
        for j in range(n):
            fc[i, j] = -np.eye(3) * (1.0 if i != j else -(n - 1.0))
    ph.force_constants = fc
    seen: list[list[str]] = []
    orig = matplotlib.axes.Axes.set_xticks

    def spy(self, ticks, labels=None, **kw):  # type: ignore[no-untyped-def]
        if labels is not None:
            seen.append(list(labels))
        return orig(self, ticks, labels, **kw)

    monkeypatch.setattr(matplotlib.axes.Axes, "set_xticks", spy)
    out = plot_bands_dos(ph, ph, tmp_path / "b.png", mesh=(2, 2, 2), npoints=5)
    assert out.stat().st_size > 1000
    assert seen and "$\\Gamma$" in seen[0] and len(seen[0]) >= 4
