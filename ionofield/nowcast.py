"""Nowcast: fit one day's observations (GIM maps weighted by their RMS maps, and profiles or
in-situ points when given) with the ionofield column field, then write the 4D electron
density, its VTEC maps and the fit residual per observation type.

Field: log10 Ne = IRI + a + b tanh((h - hmF2)/200 km) below 1000 km, s x plasmasphere above
(:mod:`ionofield.gimfit`); (a, b, s) = net(physical inputs with Fourier features).
GIM term: RMS-weighted VTEC misfit (operators.column_vtec). Point term: mean squared log10
Ne misfit of profile / in-situ points (the field evaluated at the point's column).
A random tenth of the map cells is kept aside to choose the best state (not to score it: a
GIM is itself a smooth expansion, so scores come from another product or other sensors).

Without a GIM (profiles / in-situ only) the field is IRI plus the optimal-interpolation
increment of the points (:mod:`ionofield.assim`): it returns to IRI a few correlation
lengths (1500 km, 150 km, 2 h) away from every observation.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ionofield import swx
from ionofield.assim import Increment, OISettings
from ionofield.config import IRIConfig
from ionofield.errors import IonofieldError
from ionofield.gimfit import ColumnNet, Columns, FitSettings, build_columns, fit, predict_vtec
from ionofield.ionex import IonexMaps, read_ionex
from ionofield.iri import IRIBackground


@dataclass(frozen=True)
class NowcastSettings:
    """Network and optimisation of a nowcast."""

    hidden: int = 128
    layers: int = 3
    fourier: int = 48
    sigma: float = 1.5
    val_fraction: float = 0.1
    fit: FitSettings = FitSettings(steps=2000, batch=4096, lr=2e-3, weight_decay=0.0)


def map_columns(maps: IonexMaps, bg: IRIBackground, drop_seam: bool = True) -> Columns:
    """Columns of every cell and epoch of ``maps`` (the duplicate lon 180 column dropped)."""
    lon = maps.lon_deg[:-1] if drop_seam and maps.lon_deg[-1] - maps.lon_deg[0] == 360 else None
    lon = maps.lon_deg if lon is None else lon
    t = np.array([(e - swx.EPOCH).total_seconds() for e in maps.epochs])
    tt, la, lo = np.meshgrid(t, maps.lat_deg, lon, indexing="ij")
    cols = build_columns(la.ravel(), lo.ravel(), tt.ravel(), bg)
    tec = maps.tec_tecu[..., : lon.size]
    rms = maps.rms_tecu[..., : lon.size] if maps.rms_tecu is not None else np.ones_like(tec)
    f = lambda a: torch.as_tensor(np.ascontiguousarray(a).ravel(), dtype=torch.float32)  # noqa: E731
    return replace(cols, obs=f(tec), rms=f(rms))


def fit_day(
    maps: IonexMaps,
    iri_cfg: IRIConfig,
    ns: NowcastSettings,
    seed: int = 0,
    obs: dict | None = None,
) -> tuple[ColumnNet, dict]:
    """Fit the field to one day of GIM maps (and observation-table points ``obs``: profiles,
    in-situ); returns the net and its fit record with residuals per observation type.
    """
    if maps.rms_tecu is None:
        raise IonofieldError("nowcast weights the GIM by its RMS maps; this file has none")
    cols = map_columns(maps, IRIBackground(iri_cfg))
    ok = np.flatnonzero(np.isfinite(cols.obs.numpy()))
    rng = np.random.default_rng(seed)
    is_val = rng.random(ok.size) < ns.val_fraction
    torch.manual_seed(seed)
    net = ColumnNet(0, ns.hidden, ns.layers, ns.fourier, ns.sigma)
    points = _points(obs, iri_cfg) if obs is not None else None
    fs = replace(ns.fit, seed=seed)
    rec = fit(net, cols.subset(ok[~is_val]), cols.subset(ok[is_val]), fs, points)
    pred = predict_vtec(net, cols)
    rec["gim"] = gim_residuals(pred, cols.obs.numpy(), cols.rms.numpy())
    if points is not None:
        rec.update(point_residuals(net, points, obs))
    return net, rec


def _iri_at(obs: dict, iri_cfg: IRIConfig) -> np.ndarray:
    if "log10_ne_iri" in obs:
        return np.asarray(obs["log10_ne_iri"], float)
    return IRIBackground(iri_cfg).log10_ne(obs["lat"], obs["lon"], obs["alt_km"], obs["time_s"])


def _points(obs: dict, iri_cfg: IRIConfig) -> dict:
    from ionofield import ro

    return ro.point_inputs({**obs, "log10_ne_iri": _iri_at(obs, iri_cfg)}, iri_cfg)


def point_residuals(net: ColumnNet, points: dict, obs: dict) -> dict:
    """log10 Ne RMSE of the field and of IRI per observation type (in-situ, profile)."""
    from ionofield import ro

    pred = ro.predict_points(net, points)
    return _residuals_by_type(pred, points["y"].numpy(), points["iri"].numpy(), obs["source"])


def _residuals_by_type(
    pred: np.ndarray, y: np.ndarray, iri: np.ndarray, source: np.ndarray
) -> dict:
    out = {}
    for code, name in ((0, "insitu"), (1, "profile")):
        m = np.asarray(source) == code
        if m.any():
            out[name] = {
                "n": int(m.sum()),
                "rmse_log10": float(np.sqrt(np.mean((pred[m] - y[m]) ** 2))),
                "iri_rmse_log10": float(np.sqrt(np.mean((iri[m] - y[m]) ** 2))),
            }
    return out


def gim_residuals(pred: np.ndarray, obs: np.ndarray, rms: np.ndarray) -> dict:
    """The fit residual measured against the GIM's own uncertainty (its RMS map sigma).

    ``rmse_tecu`` vs ``rms_of_gim_rms_tecu`` (root mean square of sigma over the same cells):
    a fit within the GIM's uncertainty has the first no larger than the second;
    ``normalised_rms`` = sqrt(mean((r / sigma)^2)) (1 = residuals as large as sigma);
    ``within_rms`` / ``within_2rms``: share of cells with |r| <= sigma / 2 sigma.
    """
    ok = np.isfinite(obs) & np.isfinite(rms)
    r, sig = pred[ok] - obs[ok], rms[ok]
    return {
        "rmse_tecu": float(np.sqrt(np.mean(r**2))),
        "bias_tecu": float(np.mean(r)),
        "mean_gim_rms_tecu": float(np.mean(sig)),
        "rms_of_gim_rms_tecu": float(np.sqrt(np.mean(sig**2))),
        "normalised_rms": float(np.sqrt(np.mean((r / np.maximum(sig, 1e-3)) ** 2))),
        "within_rms": float(np.mean(np.abs(r) <= sig)),
        "within_2rms": float(np.mean(np.abs(r) <= 2 * sig)),
    }


Field = ColumnNet | Increment
"""A nowcast field: the GIM-fitted column net, or IRI + a point increment (no GIM)."""


def _log10_ne(field: Field, cols: Columns) -> np.ndarray:
    """log10 Ne [m^-3] of ``field`` on the columns' altitude grid, (C, A)."""
    if isinstance(field, Increment):
        inc = field.on_columns(cols.lat, cols.lon, cols.time_s, cols.alt.numpy())
        return cols.iri.numpy() + inc.astype(np.float32)
    from ionofield.gimfit import log10_ne_at

    with torch.no_grad():
        return log10_ne_at(field, cols).numpy()


def vtec_maps(net: Field, maps: IonexMaps, iri_cfg: IRIConfig) -> np.ndarray:
    """The field's VTEC [TECU] on ``maps``' grid and epochs, (T, H, W), seam column copied."""
    cols = map_columns(maps, IRIBackground(iri_cfg), drop_seam=False)
    if isinstance(net, Increment):
        from ionofield.operators import column_vtec

        vtec = column_vtec(torch.as_tensor(_log10_ne(net, cols)), cols.alt, cols.pec).numpy()
    else:
        vtec = predict_vtec(net, cols)
    return vtec.reshape(maps.tec_tecu.shape)


def write_outputs(
    out_dir: str | Path, net: Field, maps: IonexMaps, iri_cfg: IRIConfig, record: dict
) -> None:
    """Write field.h5 (log10 Ne on epochs x altitudes x lat x lon), vtec.i and residuals.json."""
    import h5py

    from common.io import atomic_path, atomic_write
    from ionofield.ionex import write_ionex

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vtec = vtec_maps(net, maps, iri_cfg)
    write_ionex(out / "vtec.i", replace(maps, tec_tecu=vtec, rms_tecu=None), "ionofield nowcast")
    cols = map_columns(maps, IRIBackground(iri_cfg), drop_seam=False)
    ne = _log10_ne(net, cols).reshape(*maps.tec_tecu.shape, -1)
    with atomic_path(out / "field.h5") as tmp, h5py.File(tmp, "w") as h5:
        h5["log10_ne"] = np.moveaxis(ne, -1, 1).astype(np.float32)
        h5["alt_km"], h5["lat_deg"], h5["lon_deg"] = cols.alt.numpy(), maps.lat_deg, maps.lon_deg
        h5["time_s"] = [(e - swx.EPOCH).total_seconds() for e in maps.epochs]
        h5.attrs["layout"] = "log10_ne[time, alt, lat, lon], m^-3; above alt_km[-1]: plasmasphere"
    with atomic_write(out / "residuals.json") as fh:
        keep = ("gim", "insitu", "profile", "history")
        json.dump({k: record[k] for k in keep if k in record}, fh, indent=1)


def compare(pred: IonexMaps | np.ndarray, epochs: list, other: IonexMaps) -> dict:
    """RMSE [TECU] of maps ``pred`` (on ``epochs``) against ``other`` at their common epochs."""
    arr = pred.tec_tecu if isinstance(pred, IonexMaps) else pred
    common = [e for e in other.epochs if e in epochs]
    if not common:
        raise IonofieldError("the two map sets share no epoch")
    a = arr[[epochs.index(e) for e in common]]
    b = other.tec_tecu[[other.epochs.index(e) for e in common]]
    ok = np.isfinite(a) & np.isfinite(b)
    return {"rmse_tecu": float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2))), "n_epochs": len(common)}


def grid_template(time_s: np.ndarray) -> IonexMaps:
    """Empty global maps (2.5 x 5 deg, hourly) covering the hours of ``time_s``."""
    t = np.asarray(time_s, float)
    if t.max() - t.min() > 86400.0:
        raise IonofieldError(
            f"a nowcast fits one day; the observations span {(t.max() - t.min()) / 86400:.1f} days"
        )
    hours = np.arange(np.floor(t.min() / 3600.0), np.floor(t.max() / 3600.0) + 1.0)
    epochs = [swx.EPOCH + dt.timedelta(hours=float(h)) for h in hours]
    lat, lon = np.arange(87.5, -87.6, -2.5), np.arange(-180.0, 180.1, 5.0)
    return IonexMaps(epochs, lat, lon, np.full((hours.size, 71, 73), np.nan), None, 450.0)


def fit_points_only(
    obs: dict, iri_cfg: IRIConfig, oi: OISettings | None = None
) -> tuple[Increment, dict, IonexMaps]:
    """Nowcast from profiles / in-situ points alone (no GIM): IRI + the optimal-interpolation
    increment of the points (deterministic); returns it, its record (in-sample residuals per
    observation type) and the map grid of the observed hours.
    """
    maps = grid_template(obs["time_s"])  # refuses more than one day
    iri = _iri_at(obs, iri_cfg)
    keys = ("lat", "lon", "alt_km", "time_s")
    inc = Increment(*(obs[k] for k in keys), obs["log10_ne"] - iri, oi or OISettings())
    pred = iri + inc.at_points(*(obs[k] for k in keys))
    rec = {"history": [], **_residuals_by_type(pred, obs["log10_ne"], iri, obs["source"])}
    return inc, rec, maps


def read_day(path: str | Path) -> IonexMaps:
    """Read a GIM file for a nowcast (any IONEX flavour)."""
    maps = read_ionex(path)
    if maps.epochs[-1] - maps.epochs[0] > dt.timedelta(days=1):
        raise IonofieldError(f"{path}: a nowcast fits one day; this file spans more")
    if maps.rms_tecu is None:
        raise IonofieldError(f"{path}: nowcast weights the GIM by its RMS maps; this file has none")
    return maps
