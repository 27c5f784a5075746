"""The ionofield library facade: what a notebook imports and what the CLI calls.

    from ionofield import api
    cfg = api.load_config("demo", sets=["data.scenario=runs/scen"])
    api.simulate(cfg, "runs/scen")
    api.fit(cfg, "runs/run", device="cpu")
    model, cfg = api.load_model("runs/run")
    metrics, path = api.evaluate_run("runs/run", "runs/scen")
    api.run_nowcast("codg0080.20i.Z", "runs/nowcast")   # real GIMs: nowcast, forecast, RO

Every problem a user can cause is raised as :class:`common.errors.UserError` (one line naming
the file or option); nothing here imports Click.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import UserError
from ionofield.config import IonofieldConfig
from ionofield.config import load as load_config
from ionofield.modes import ingest_ro, run_forecast, run_nowcast
from ionofield.plots import make_figures
from ionofield.train import fit, load_model

__all__ = [
    "IonofieldConfig",
    "evaluate_run",
    "fit",
    "ingest_ro",
    "load_config",
    "load_model",
    "make_figures",
    "parse_axis",
    "parse_times",
    "predict",
    "predict_to_file",
    "run_forecast",
    "run_nowcast",
    "simulate",
    "write_prediction",
]

MAX_AXIS_POINTS = 10_000
AXIS_LIMITS = {"--lat": (-90.0, 90.0), "--lon": (-360.0, 360.0), "--alt": (0.0, 100_000.0)}


def simulate(cfg: IonofieldConfig, out_dir: str | Path) -> dict[str, Any]:
    """Simulate a scenario folder (observations.h5, tec/*.i, scenario.json); returns its meta."""
    from common.progress import get_logger
    from ionofield.simulate import simulate as run

    return run(cfg, out_dir, log=get_logger("ionofield.simulate"))


def evaluate_run(
    run: str | Path,
    scenario: str | Path,
    *,
    out: str | Path | None = None,
    all_data: bool = False,
    device: str = "cpu",
) -> tuple[dict[str, Any], Path]:
    """Held-out metrics of a trained run on a scenario, written as JSON (default RUN/eval.json).

    Returns
    -------
    tuple
        ``(metrics, path of the JSON)``.
    """
    from common.device import resolve_device
    from common.io import atomic_write
    from ionofield.evaluate import evaluate
    from ionofield.iri import IRIBackground
    from ionofield.prepare import load_prepared, test_indices

    model, cfg = load_model(run, resolve_device(device))
    prep, _ = load_prepared(cfg, scenario)
    held = test_indices(cfg, prep)  # blocks that never chose a checkpoint
    idx = np.arange(prep.y.shape[0]) if all_data or held.size == 0 else held
    metrics = evaluate(model, prep, idx, cfg, IRIBackground(cfg.iri), cfg.sim.storm_kp)
    # say what was scored: without test blocks every observation is, training ones included
    metrics["split"] = "test blocks" if idx is held else "all observations (training included)"
    run_path = Path(run)
    path = Path(out) if out else (run_path if run_path.is_dir() else run_path.parent) / "eval.json"
    with atomic_write(path) as fh:
        json.dump(metrics, fh, indent=1)
    return metrics, path


def parse_times(times: Sequence[str]) -> np.ndarray:
    """ISO-8601 UTC times -> UNIX seconds; a :class:`UserError` naming ``--time`` when bad."""
    from ionofield.data import _iso_to_s

    if not times:
        raise UserError("give at least one time", path="--time")
    try:
        return np.array([_iso_to_s(s) for s in times])
    except ValueError as exc:
        raise UserError(f"not an ISO-8601 time ({exc})", path="--time") from None


def parse_axis(text: str, name: str) -> np.ndarray:
    """``START:STOP:STEP`` -> the axis values (STOP included); checked against ``name``'s range.

    Parameters
    ----------
    text
        e.g. ``-87.5:87.5:2.5`` (a descending axis takes a negative step).
    name
        ``--lat`` (within [-90, 90]), ``--lon`` (within [-360, 360]) or ``--alt`` (>= 0 km).
    """
    parts = text.split(":")
    try:
        start, stop, step = (float(v) for v in parts)
    except ValueError:
        raise UserError(f"'{text}' is not START:STOP:STEP (three numbers)", path=name) from None
    if not all(math.isfinite(v) for v in (start, stop, step)):
        raise UserError(f"'{text}': values must be finite", path=name)
    if step == 0 or (stop - start) * step < 0:
        raise UserError(f"'{text}': STEP must be non-zero and lead from START to STOP", path=name)
    span = (stop - start) / step
    n = math.floor(span + 1e-6) + 1
    if n > MAX_AXIS_POINTS:
        raise UserError(f"'{text}' gives {n} values (at most {MAX_AXIS_POINTS})", path=name)
    lo, hi = AXIS_LIMITS.get(name, (-math.inf, math.inf))
    values = start + step * np.arange(n)
    if abs(span - (n - 1)) < 1e-6:  # STOP itself, not STOP +- rounding
        values[-1] = stop
    if values.min() < lo or values.max() > hi:
        raise UserError(f"'{text}' leaves the valid range [{lo:g}, {hi:g}]", path=name)
    return values


def predict(
    model: Any, cfg: IonofieldConfig, times_s: np.ndarray, grid: tuple[np.ndarray, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """log10 Ne (T, n_lat, n_lon, n_alt) on ``grid`` = (lats, lons, alts) and VTEC (T, 71, 73)."""
    from ionofield.evaluate import field_tec_maps, predict_grid
    from ionofield.iri import IRIBackground

    for values, name in zip(grid, AXIS_LIMITS):
        lo, hi = AXIS_LIMITS[name]
        v = np.asarray(values, float)
        if v.ndim != 1 or v.size == 0 or not np.all((v >= lo) & (v <= hi)):
            raise UserError(
                f"grid axis must be 1-D, non-empty, finite and in [{lo:g}, {hi:g}]", path=name
            )
    bg = IRIBackground(cfg.iri)
    return predict_grid(model, bg, cfg, grid, times_s), field_tec_maps(model, bg, cfg, times_s)


def predict_to_file(
    run: str | Path,
    times_s: np.ndarray,
    grid: tuple[np.ndarray, ...],
    out: str | Path,
    *,
    ionex: str | Path | None = None,
    device: str = "cpu",
) -> tuple[int, ...]:
    """Predict with a trained run and write ``out`` (.h5/.nc) and optionally IONEX maps.

    Returns
    -------
    tuple
        The grid shape (n_lat, n_lon, n_alt) written.
    """
    from common.device import resolve_device

    out = Path(out)
    if out.suffix not in (".h5", ".nc"):
        raise UserError("must end in .h5 or .nc", path=out)
    model, cfg = load_model(run, resolve_device(device))
    log_ne, tec = predict(model, cfg, times_s, grid)
    write_prediction(out, cfg, grid, times_s, log_ne, tec)
    if ionex:
        from ionofield.ionex import IonexMaps, write_ionex
        from ionofield.simulate import IONEX_LAT, IONEX_LON

        epochs = [dt.datetime(1970, 1, 1) + dt.timedelta(seconds=float(s)) for s in times_s]
        maps = IonexMaps(epochs, IONEX_LAT, IONEX_LON, tec, None, 450.0)
        write_ionex(ionex, maps, "ionofield predict")
    return tuple(log_ne.shape[1:])


def write_prediction(  # noqa: PLR0913 - one argument per array written
    path: Path,
    cfg: IonofieldConfig,
    grid: tuple[np.ndarray, ...],
    times_s: np.ndarray,
    log_ne: np.ndarray,
    tec: np.ndarray,
) -> None:
    """HDF5 (``.h5``) or netCDF (``.nc``) with log10 Ne (time, lat, lon, alt) and VTEC maps."""
    from common.config import to_dict
    from common.io import atomic_path
    from ionofield import __version__
    from ionofield.simulate import IONEX_LAT, IONEX_LON

    attrs = {
        "config": json.dumps(to_dict(cfg)),
        "tool": f"ionofield {__version__}",
        "units": "log10_ne: log10 m^-3; vtec: TECU; time: UNIX s UTC",
    }
    arrays = {
        "time_s": times_s,
        "lat": grid[0],
        "lon": grid[1],
        "alt_km": grid[2],
        "log10_ne": log_ne,
        "tec_lat": IONEX_LAT,
        "tec_lon": IONEX_LON,
        "vtec_tecu": tec,
    }
    with atomic_path(path) as tmp:
        if Path(path).suffix == ".nc":
            _write_nc(tmp, attrs, arrays)
            return
        import h5py

        with h5py.File(tmp, "w") as f:
            for k, v in arrays.items():
                f.create_dataset(
                    k, data=np.asarray(v), compression="gzip" if np.ndim(v) > 1 else None
                )
            f.attrs.update(attrs)


def _write_nc(tmp: Path, attrs: dict[str, str], arrays: dict[str, Any]) -> None:
    import netCDF4

    with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
        for name in ("lat", "lon", "alt_km", "tec_lat", "tec_lon"):
            ds.createDimension(name, len(arrays[name]))
            ds.createVariable(name, "f8", (name,))[:] = arrays[name]
        ds.createDimension("time", len(arrays["time_s"]))
        ds.createVariable("time_s", "f8", ("time",))[:] = arrays["time_s"]
        dims = ("time", "lat", "lon", "alt_km")
        ds.createVariable("log10_ne", "f4", dims, zlib=True)[:] = arrays["log10_ne"]
        dims = ("time", "tec_lat", "tec_lon")
        ds.createVariable("vtec_tecu", "f4", dims, zlib=True)[:] = arrays["vtec_tecu"]
        ds.setncatts(attrs)
