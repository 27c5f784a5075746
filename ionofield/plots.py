"""Figures (matplotlib, Agg): Ne maps at an altitude, profiles vs observations, TEC maps,
the TEC gradient-direction quiver and training curves. Every file is written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from common.io import atomic_path  # noqa: E402


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png", bbox_inches="tight")
    plt.close(fig)
    return path


def plot_ne_maps(path: Path, lats, lons, panels: dict, alt_km: float) -> Path:
    """Side-by-side maps of log10 Ne (each panel (n_lat, n_lon)) at one altitude."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    vmin = min(np.nanmin(v) for v in panels.values())
    vmax = max(np.nanmax(v) for v in panels.values())
    for ax, (name, v) in zip(axes[0], panels.items()):
        im = ax.pcolormesh(lons, lats, v, vmin=vmin, vmax=vmax, shading="auto", cmap="viridis")
        ax.set(title=f"{name}, {alt_km:.0f} km", xlabel="lon [deg]", ylabel="lat [deg]")
    fig.colorbar(im, ax=axes[0].tolist(), label="log10 Ne [m$^{-3}$]")
    return _save(fig, path)


def plot_profiles(path: Path, profiles: list[dict]) -> Path:
    """Vertical profiles: observation points vs IRI, model (and truth when present)."""
    fig, axes = plt.subplots(
        1, len(profiles), figsize=(3.2 * len(profiles), 3.8), squeeze=False, sharey=True
    )
    for ax, p in zip(axes[0], profiles):
        ax.plot(p["obs"], p["alt"], ".", color="k", ms=3, label="observed")
        ax.plot(p["iri"], p["alt"], "-", color="tab:gray", label="IRI")
        ax.plot(p["model"], p["alt"], "-", color="tab:red", label="ionofield")
        if "truth" in p:
            ax.plot(p["truth"], p["alt"], "--", color="tab:blue", lw=1, label="truth")
        ax.set(title=p["title"], xlabel="log10 Ne")
    axes[0][0].set_ylabel("altitude [km]")
    axes[0][0].legend(fontsize=7)
    return _save(fig, path)


def plot_tec_maps(path: Path, lats, lons, panels: dict) -> Path:
    """TEC maps [TECU] side by side (e.g. IONEX, IRI, ionofield)."""
    return plot_ne_like(path, lats, lons, panels, "VTEC [TECU]")


def plot_ne_like(path: Path, lats, lons, panels: dict, label: str) -> Path:
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    vmax = max(np.nanmax(v) for v in panels.values())
    for ax, (name, v) in zip(axes[0], panels.items()):
        im = ax.pcolormesh(lons, lats, v, vmin=0, vmax=vmax, shading="auto", cmap="plasma")
        ax.set(title=name, xlabel="lon [deg]", ylabel="lat [deg]")
    fig.colorbar(im, ax=axes[0].tolist(), label=label)
    return _save(fig, path)


def plot_quiver(
    path: Path, lats, lons, tec: np.ndarray, direction: np.ndarray, step: int = 3
) -> Path:
    """TEC map with the ConvLSTM gradient-direction field (unit arrows, every ``step``-th cell)."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.pcolormesh(lons, lats, tec, shading="auto", cmap="plasma")
    u, v = direction[0], direction[1]
    norm = np.hypot(u, v) + 1e-12
    la, lo = np.meshgrid(lats[::step], lons[::step], indexing="ij")
    ax.quiver(
        lo,
        la,
        (u / norm)[::step, ::step],
        (v / norm)[::step, ::step],
        color="w",
        scale=40,
        width=0.003,
    )
    ax.set(title="TEC and learned gradient direction", xlabel="lon [deg]", ylabel="lat [deg]")
    return _save(fig, path)


def plot_training(path: Path, metrics_jsonl: Path) -> Path:
    """Loss terms and held-out RMSE vs step from metrics.jsonl."""
    rows = [
        json.loads(line) for line in Path(metrics_jsonl).read_text().splitlines() if line.strip()
    ]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    steps = [r["step"] for r in rows]
    for key in ("total", "data", "chapman", "tec_dir", "head"):
        if key in rows[-1]:
            a.plot(steps, [r.get(key, np.nan) for r in rows], label=key, lw=1)
    a.set(xlabel="step", ylabel="loss", title="training losses")
    a.legend(fontsize=7)
    val = [(r["step"], r["val_rmse"], r["iri_rmse"]) for r in rows if "val_rmse" in r]
    b.plot(steps, [r["rmse"] for r in rows], lw=0.8, alpha=0.6, label="train batch")
    if val:
        s, v, i = zip(*val)
        b.plot(s, v, "o-", label="held-out ionofield")
        b.plot(s, i, "k--", label="held-out IRI")
    b.set(xlabel="step", ylabel="RMSE log10 Ne", title="accuracy")
    b.legend(fontsize=7)
    return _save(fig, path)
