"""Public facade used by the CLI: load a trained run, write predictions, make figures, demo."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import torch

from ionofield.config import IonofieldConfig
from ionofield.errors import IonofieldError
from ionofield.model import RSTMRF


def load_run(checkpoint: str | Path, device: str = "cpu") -> tuple[IonofieldConfig, RSTMRF, dict]:
    """Rebuild (config, model, checkpoint) from a checkpoint file or a run directory."""
    from common.checkpoint import load_checkpoint, restore_checkpoint
    from common.config import from_dict

    path = Path(checkpoint)
    if path.is_dir():
        best = path / "checkpoints" / "best.pt"
        path = best if best.is_file() else path / "checkpoints" / "last.pt"
    try:
        ckpt = load_checkpoint(path)
    except click.ClickException:
        raise
    except Exception as exc:  # e.g. struct.error from a damaged zip header
        raise IonofieldError(f"{path}: corrupt or unreadable checkpoint ({exc})") from None
    saved = dict(ckpt["config"])
    if isinstance(saved.get("model"), dict):  # runs saved before `hmf2_input` existed lack it
        saved["model"] = {"hmf2_input": False, **saved["model"]}
    cfg = from_dict(IonofieldConfig, saved, source=str(path))
    model = RSTMRF(cfg.model, use_tec=cfg.loss.w_tec_direction > 0)
    restore_checkpoint(ckpt, model, rng=False)
    return cfg, model.to(device).eval(), ckpt


def write_prediction(
    path: Path,
    cfg: IonofieldConfig,
    grid: tuple,
    times_s: np.ndarray,
    log_ne: np.ndarray,
    tec: np.ndarray,
) -> None:
    """HDF5 (``.h5``) or netCDF (``.nc``) with log10 Ne (time, lat, lon, alt) and VTEC maps."""
    from common.config import to_dict
    from common.io import atomic_path
    from ionofield import __version__
    from ionofield.simulate import IONEX_LAT, IONEX_LON

    lats, lons, alts = grid
    attrs = {
        "config": json.dumps(to_dict(cfg)),
        "tool": f"ionofield {__version__}",
        "units": "log10_ne: log10 m^-3; vtec: TECU; time: UNIX s UTC",
    }
    with atomic_path(path) as tmp:
        if path.suffix == ".nc":
            _write_nc(tmp, attrs, grid, times_s, log_ne, tec)
            return
        import h5py

        with h5py.File(tmp, "w") as f:
            for k, v in {
                "time_s": times_s,
                "lat": lats,
                "lon": lons,
                "alt_km": alts,
                "log10_ne": log_ne,
                "tec_lat": IONEX_LAT,
                "tec_lon": IONEX_LON,
                "vtec_tecu": tec,
            }.items():
                f.create_dataset(
                    k, data=np.asarray(v), compression="gzip" if np.ndim(v) > 1 else None
                )
            f.attrs.update(attrs)


def _write_nc(tmp: Path, attrs: dict, grid: tuple, times_s, log_ne, tec) -> None:
    import netCDF4

    from ionofield.simulate import IONEX_LAT, IONEX_LON

    with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
        for name, vals in zip(("lat", "lon", "alt_km"), grid):
            ds.createDimension(name, len(vals))
            ds.createVariable(name, "f8", (name,))[:] = vals
        ds.createDimension("time", len(times_s))
        ds.createVariable("time_s", "f8", ("time",))[:] = times_s
        ds.createVariable("log10_ne", "f4", ("time", "lat", "lon", "alt_km"), zlib=True)[:] = log_ne
        ds.createDimension("tec_lat", IONEX_LAT.size)
        ds.createDimension("tec_lon", IONEX_LON.size)
        ds.createVariable("tec_lat", "f8", ("tec_lat",))[:] = IONEX_LAT
        ds.createVariable("tec_lon", "f8", ("tec_lon",))[:] = IONEX_LON
        ds.createVariable("vtec_tecu", "f4", ("time", "tec_lat", "tec_lon"), zlib=True)[:] = tec
        ds.setncatts(attrs)


def make_figures(
    run_dir: Path, scenario_dir: Path, out_dir: Path, alt_km: float = 400.0
) -> list[Path]:
    """All figures of a trained run on its scenario (held-out hours)."""
    from ionofield import plots
    from ionofield.evaluate import TecContextCache, field_tec_maps, predict_grid
    from ionofield.iri import IRIBackground
    from ionofield.prepare import TEC_SCALE, load_prepared
    from ionofield.simulate import IONEX_LAT, IONEX_LON, Truth

    cfg, model, _ = load_run(run_dir)
    prep, (_, held) = load_prepared(cfg, scenario_dir)
    bg = IRIBackground(cfg.iri)
    out_dir.mkdir(parents=True, exist_ok=True)
    from ionofield import swx

    hours = np.unique(prep.hour_idx[held].numpy()) if held.size else np.arange(prep.tec.shape[0])
    k = int(hours[np.argmax(swx.kp_at(prep.t0_s + 3600.0 * hours))])  # the stormiest held-out hour
    t = prep.t0_s + 3600.0 * k
    lats, lons = np.arange(-87.5, 88, 5.0), np.arange(-180, 181, 10.0)
    panels = {
        "IRI": predict_grid(None, bg, cfg, (lats, lons, np.array([alt_km])), [t])[0, ..., 0],
        "ionofield": predict_grid(model, bg, cfg, (lats, lons, np.array([alt_km])), [t])[0, ..., 0],
    }
    if "log10_ne_true" in prep.obs:
        truth = Truth(bg, cfg.sim, prep.t0_s, prep.t0_s + 3600.0 * prep.tec.shape[0])
        panels["truth"] = predict_grid(None, truth, cfg, (lats, lons, np.array([alt_km])), [t])[
            0, ..., 0
        ]
    files = [plots.plot_ne_maps(out_dir / "ne_map.png", lats, lons, panels, alt_km)]
    files.append(plots.plot_profiles(out_dir / "profiles.png", _profiles(model, cfg, prep, held)))
    tec_obs = prep.tec[k].double().numpy() * TEC_SCALE
    tec_panels = {
        "TEC maps (IONEX)": tec_obs,
        "IRI": field_tec_maps(None, bg, cfg, np.array([t]))[0],
        "ionofield": field_tec_maps(model, bg, cfg, np.array([t]))[0],
    }
    files.append(plots.plot_tec_maps(out_dir / "tec_maps.png", IONEX_LAT, IONEX_LON, tec_panels))
    if model.tec_net is not None:
        s = cfg.data.tec_stride
        d = TecContextCache(model, prep, cfg).get([k])[0].numpy()
        files.append(
            plots.plot_quiver(
                out_dir / "tec_direction.png", IONEX_LAT[::s], IONEX_LON[::s], tec_obs[::s, ::s], d
            )
        )
    if (run_dir / "metrics.jsonl").is_file():
        files.append(plots.plot_training(out_dir / "training.png", run_dir / "metrics.jsonl"))
    return files


def _profiles(model, cfg, prep, held, n: int = 3) -> list[dict]:
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
