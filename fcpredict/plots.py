"""Figures: phonon bands and DOS, predicted vs reference (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["plot_bands_dos"]


def _bands_dos(ph: Any, bands: list, mesh: Any) -> tuple:
    ph.run_band_structure(bands)
    bs = ph.band_structure
    ph.run_mesh(mesh, with_eigenvectors=False, is_gamma_center=True)
    ph.run_total_dos(sigma=0.15)
    return bs.distances, bs.frequencies, ph.total_dos.frequency_points, ph.total_dos.dos


def plot_bands_dos(
    ph_pred: Any,
    ph_ref: Any,
    path: str | Path,
    title: str = "",
    mesh: Any = (12, 12, 12),
    npoints: int = 41,
    pred_label: str = "fcpredict",
) -> Path:
    """Band structure (seekpath path) and total DOS of prediction (red) vs reference (black)."""
    from common.io import atomic_path
    from fcpredict.apply import band_paths

    try:
        bands = band_paths(ph_ref, npoints)
    except Exception:
        bands = [
            np.linspace([0, 0, 0], [0.5, 0, 0], npoints),
            np.linspace([0.5, 0, 0], [0.5, 0.5, 0], npoints),
        ]
    fig, (ax_b, ax_d) = plt.subplots(
        1, 2, figsize=(7.0, 3.6), sharey=True, gridspec_kw={"width_ratios": [3, 1]}
    )
    for ph, color, label in ((ph_ref, "k", "reference"), (ph_pred, "tab:red", pred_label)):
        if ph is None:
            continue
        dist, freq, fpts, dos = _bands_dos(ph, bands, mesh)
        for d, f in zip(dist, freq):
            ax_b.plot(d, f, color=color, lw=0.9)
        ax_b.plot([], [], color=color, lw=0.9, label=label)
        ax_d.plot(dos / dos.max(), fpts, color=color, lw=0.9)
    ax_b.axhline(0, color="0.6", lw=0.5)
    ax_b.set_xlabel("wave vector (band path)")
    ax_b.set_ylabel("frequency (THz)")
    ax_b.set_xticks([])
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
