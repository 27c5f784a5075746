"""Figures: constraint histograms before/after, z-slice heatmaps, trade-off plot (Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from common.io import atomic_path  # noqa: E402


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png", bbox_inches="tight")
    plt.close(fig)
    return path


def plot_histograms(
    fields: dict[str, dict[str, np.ndarray]], path: str | Path, chi_excision: float
) -> Path:
    """Histograms of log10|Ham| and log10||Mom|| for each labelled data set, medians marked.

    fields: label -> constraint_fields(...) output (Ham, Mom, chi arrays of equal shape).
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for k, (label, f) in enumerate(fields.items()):
        w = f["chi"] >= chi_excision
        for ax, key, name in ((axes[0], "Ham", "|Ham|"), (axes[1], "Mom", "||Mom||")):
            v = np.log10(np.abs(f[key][w]) + 1e-300)
            v = v[np.isfinite(v) & (v > -30)]
            color = f"C{k}"
            ax.hist(v, bins=50, histtype="step", density=True, color=color, label=label)
            med = np.median(v)
            ax.axvline(med, color=color, ls="--", lw=1)
            ax.set_xlabel(f"log10 {name}")
    axes[0].set_ylabel("density")
    axes[0].legend(fontsize=8)
    axes[1].set_title("dashed: medians (punctures excised)", fontsize=9)
    return _save(fig, path)


def plot_slices(fields: dict[str, dict[str, np.ndarray]], path: str | Path) -> Path:
    """Mid-z heatmaps of log10|Ham| per data set with a shared colour scale."""
    labels = list(fields)
    fig, axes = plt.subplots(1, len(labels), figsize=(4 * len(labels), 3.6), squeeze=False)
    logs = {
        k: np.log10(np.abs(f["Ham"][:, :, f["Ham"].shape[2] // 2]) + 1e-16)
        for k, f in fields.items()
    }
    vmin = min(np.percentile(v, 2) for v in logs.values())
    vmax = max(v.max() for v in logs.values())
    for ax, k in zip(axes[0], labels):
        im = ax.imshow(logs[k].T, origin="lower", vmin=vmin, vmax=vmax, cmap="magma")
        ax.set_title(f"log10|Ham| z-slice: {k}", fontsize=9)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    return _save(fig, path)


def plot_tradeoff(points: dict[str, tuple[float, float]], path: str | Path) -> Path:
    """Constraint RMS vs ||y_hat - x|| for each method (label -> (distance, ham_rms))."""
    fig, ax = plt.subplots(figsize=(4.5, 3.6))
    for k, (label, (dist, ham)) in enumerate(points.items()):
        ax.scatter(max(dist, 1e-12), ham, color=f"C{k}", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("||y_hat - x||_2 (RMS over cells, chi and A)")
    ax.set_ylabel("RMS |Ham| (excised)")
    ax.legend(fontsize=8)
    return _save(fig, path)
