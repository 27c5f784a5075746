"""Figures: phonon bands and DOS, predicted vs reference (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["plot_bands_dos", "band_ticks"]


def _bands_dos(ph: Any, bands: list, mesh: Any) -> tuple:
    ph.run_band_structure(bands)
    bs = ph.band_structure
    ph.run_mesh(mesh, with_eigenvectors=False, is_gamma_center=True)
    ph.run_total_dos(sigma=0.15)
    return bs.distances, bs.frequencies, ph.total_dos.frequency_points, ph.total_dos.dos


def band_ticks(
    distances: list[np.ndarray], labels: list[str], connections: list[bool]
) -> tuple[list[float], list[str]]:
    """Tick positions and labels of the high-symmetry points of a band path.

    ``labels`` and ``connections`` follow phonopy (``get_band_qpoints_by_seekpath``): a
    segment that does not connect to the next one ends at a point labelled 'A|B' (A ends it,
    B starts the next segment). Returns ([] , []) if the labels do not match the segments.
    """
    if not distances or len(connections) != len(distances):
        return [], []
    need = 1 + len(distances) + sum(1 for c in connections[:-1] if not c)
    if len(labels) != need:
        return [], []
    ticks, names, k = [float(distances[0][0])], [labels[0]], 1
    for i, seg in enumerate(distances):
        ticks.append(float(seg[-1]))
        if connections[i] or i == len(distances) - 1:
            names.append(labels[k])
            k += 1
        else:
            names.append(f"{labels[k]}|{labels[k + 1]}")
            k += 2
    return ticks, names


def _path(ph_ref: Any, npoints: int) -> tuple[list, list[str], list[bool]]:
    """Seekpath band path with labels, or a plain Gamma-X-M path without labels."""
    try:
        from phonopy.phonon.band_structure import get_band_qpoints_by_seekpath

        bands, labels, conn = get_band_qpoints_by_seekpath(ph_ref.primitive, npoints)
        return bands, list(labels), list(conn)
    except Exception:
        bands = [
            np.linspace([0, 0, 0], [0.5, 0, 0], npoints),
            np.linspace([0.5, 0, 0], [0.5, 0.5, 0], npoints),
        ]
        return bands, ["$\\Gamma$", "X", "M"], [True, True]


def plot_bands_dos(
    ph_pred: Any,
    ph_ref: Any,
    path: str | Path,
    title: str = "",
    mesh: Any = (12, 12, 12),
    npoints: int = 41,
    pred_label: str = "fcpredict",
) -> Path:
    """Band structure (seekpath path, high-symmetry points labelled) and total DOS of
    prediction (red) vs reference (black).
    """
    from common.io import atomic_path

    bands, labels, conn = _path(ph_ref, npoints)
    ticks, names = [], []
    fig, (ax_b, ax_d) = plt.subplots(
        1, 2, figsize=(7.0, 3.6), sharey=True, gridspec_kw={"width_ratios": [3, 1]}
    )
    for ph, color, label in ((ph_ref, "k", "reference"), (ph_pred, "tab:red", pred_label)):
        if ph is None:
            continue
        dist, freq, fpts, dos = _bands_dos(ph, bands, mesh)
        for d, f in zip(dist, freq):
            ax_b.plot(d, f, color=color, lw=0.9)
        ticks, names = band_ticks(list(dist), labels, conn)
        ax_b.plot([], [], color=color, lw=0.9, label=label)
        ax_d.plot(dos / dos.max(), fpts, color=color, lw=0.9)
    ax_b.axhline(0, color="0.6", lw=0.5)
    ax_b.set_xlabel("wave vector")
    ax_b.set_ylabel("frequency (THz)")
    ax_b.set_xticks(ticks, names)
    for x in ticks:
        ax_b.axvline(x, color="0.8", lw=0.5)
    if ticks:
        ax_b.set_xlim(ticks[0], ticks[-1])
    ax_b.legend(loc="upper right", fontsize=8)
    ax_b.set_title(title, fontsize=9)
    ax_d.set_xlabel("DOS (norm.)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
