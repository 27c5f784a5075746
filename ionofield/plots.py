"""Figures (matplotlib, Agg): Ne maps at an altitude, profiles vs observations, TEC maps,
the TEC gradient-direction quiver and training curves (:func:`make_figures` makes all of a
run). Every file is written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from common.io import atomic_path  # noqa: E402


def _save(fig: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png", bbox_inches="tight")
    plt.close(fig)
    return path


def plot_ne_maps(
    path: Path, lats: np.ndarray, lons: np.ndarray, panels: dict, alt_km: float
) -> Path:
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


def plot_tec_maps(path: Path, lats: np.ndarray, lons: np.ndarray, panels: dict) -> Path:
    """TEC maps [TECU] side by side (e.g. IONEX, IRI, ionofield)."""
    return plot_ne_like(path, lats, lons, panels, "VTEC [TECU]")


def plot_ne_like(path: Path, lats: np.ndarray, lons: np.ndarray, panels: dict, label: str) -> Path:
    """Maps side by side on one colour scale from 0 (``label`` names the quantity)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    vmax = max(np.nanmax(v) for v in panels.values())
    for ax, (name, v) in zip(axes[0], panels.items()):
        im = ax.pcolormesh(lons, lats, v, vmin=0, vmax=vmax, shading="auto", cmap="plasma")
        ax.set(title=name, xlabel="lon [deg]", ylabel="lat [deg]")
    fig.colorbar(im, ax=axes[0].tolist(), label=label)
    return _save(fig, path)


def plot_quiver(
    path: Path,
    lats: np.ndarray,
    lons: np.ndarray,
    tec: np.ndarray,
    direction: np.ndarray,
    step: int = 3,
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
    """Loss terms and validation RMSE vs step from metrics.jsonl."""
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
        b.plot(s, v, "o-", label="validation ionofield")
        b.plot(s, i, "k--", label="validation IRI")
    b.set(xlabel="step", ylabel="RMSE log10 Ne", title="accuracy")
    b.legend(fontsize=7)
    return _save(fig, path)


def make_figures(
    run_dir: str | Path, scenario_dir: str | Path, out_dir: str | Path, alt_km: float = 400.0
) -> list[Path]:
    """All figures of a trained run on its scenario, at its stormiest test-block hour.

    Parameters
    ----------
    run_dir
        A trained run directory.
    scenario_dir
        The scenario folder it is shown on (read before ``out_dir`` is created).
    out_dir
        Folder for the PNG files.
    alt_km
        Altitude of the Ne maps [km].

    Returns
    -------
    list of Path
        The files written.
    """
    from ionofield import swx
    from ionofield.iri import IRIBackground
    from ionofield.prepare import load_prepared, test_indices
    from ionofield.train import load_model

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    model, cfg = load_model(run_dir)
    prep, _ = load_prepared(cfg, scenario_dir)
    held = test_indices(cfg, prep)  # the blocks evaluate scores (they never chose best.pt)
    bg = IRIBackground(cfg.iri)
    hours = np.unique(prep.hour_idx[held].numpy()) if held.size else np.arange(prep.tec.shape[0])
    k = int(hours[np.argmax(swx.kp_at(prep.t0_s + 3600.0 * hours))])  # the stormiest hour
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [
        plot_ne_maps(out_dir / "ne_map.png", *_ne_panels(model, cfg, prep, bg, k, alt_km), alt_km),
        plot_profiles(out_dir / "profiles.png", _profiles(model, cfg, prep, held)),
    ]
    files += _tec_figures(model, cfg, prep, bg, k, out_dir)
    if (run_dir / "metrics.jsonl").is_file():
        files.append(plot_training(out_dir / "training.png", run_dir / "metrics.jsonl"))
    return files


def _ne_panels(model: Any, cfg: Any, prep: Any, bg: Any, k: int, alt_km: float) -> tuple:
    """(lats, lons, {IRI, ionofield[, truth]: log10 Ne map}) at map hour ``k``."""
    from ionofield.evaluate import predict_grid
    from ionofield.simulate import Truth

    t = prep.t0_s + 3600.0 * k
    lats, lons = np.arange(-87.5, 88, 5.0), np.arange(-180, 181, 10.0)
    grid = (lats, lons, np.array([alt_km]))
    panels = {
        "IRI": predict_grid(None, bg, cfg, grid, [t])[0, ..., 0],
        "ionofield": predict_grid(model, bg, cfg, grid, [t])[0, ..., 0],
    }
    if "log10_ne_true" in prep.obs:
        truth = Truth(bg, cfg.sim, prep.t0_s, prep.t0_s + 3600.0 * prep.tec.shape[0])
        panels["truth"] = predict_grid(None, truth, cfg, grid, [t])[0, ..., 0]
    return lats, lons, panels


def _tec_figures(model: Any, cfg: Any, prep: Any, bg: Any, k: int, out_dir: Path) -> list[Path]:
    """TEC maps (observed, IRI, ionofield) and the learned direction quiver at hour ``k``."""
    from ionofield.evaluate import direction_maps, field_tec_maps
    from ionofield.prepare import TEC_SCALE
    from ionofield.simulate import IONEX_LAT, IONEX_LON

    t = np.array([prep.t0_s + 3600.0 * k])
    tec_obs = prep.tec[k].double().numpy() * TEC_SCALE
    panels = {
        "TEC maps (IONEX)": tec_obs,
        "IRI": field_tec_maps(None, bg, cfg, t)[0],
        "ionofield": field_tec_maps(model, bg, cfg, t)[0],
    }
    files = [plot_tec_maps(out_dir / "tec_maps.png", IONEX_LAT, IONEX_LON, panels)]
    if model.tec_net is not None:
        s = cfg.data.tec_stride
        d = direction_maps(model, prep, cfg, np.array([k]))[0].numpy()
        lats, lons = IONEX_LAT[::s], IONEX_LON[::s]
        files.append(plot_quiver(out_dir / "tec_direction.png", lats, lons, tec_obs[::s, ::s], d))
    return files


def _profiles(model: Any, cfg: Any, prep: Any, held: np.ndarray, n: int = 3) -> list[dict]:
    """Up to ``n`` test-block RO profiles: observed, IRI, ionofield (and truth) vs altitude."""
    import torch

    from ionofield.evaluate import field_at

    pid = np.asarray(prep.obs["profile_id"])[held]
    ids = [i for i in np.unique(pid) if i >= 0][:: max(1, len(np.unique(pid)) // n)][:n]
    out = []
    for i in ids:
        sel = torch.as_tensor(held[pid == i])
        r, _ = field_at(
            model, prep.coords[sel], prep.time_s[sel], cfg.data.seq_len, hmf2=prep.hmf2[sel]
        )
        p = {
            "alt": prep.coords[sel, 2].numpy(),
            "obs": prep.y[sel].numpy(),
            "iri": prep.bg[sel].numpy(),
            "model": (prep.bg[sel] + r).numpy(),
            "title": f"RO {int(i)}",
        }
        if "log10_ne_true" in prep.obs:
            p["truth"] = np.asarray(prep.obs["log10_ne_true"])[sel.numpy()]
        out.append(p)
    return out
