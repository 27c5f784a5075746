"""Nowcast: fit one day's observations (GIM maps weighted by their RMS maps, and profiles or
in-situ points when given), then write the 4D electron density, its VTEC maps and the fit
residual per observation type.

The analysis is a background plus an optimal-interpolation increment of the points:

- background, with a GIM: the column field fitted to the GIM,
  log10 Ne = IRI + a + b tanh((h - hmF2)/200 km) below 1000 km, s x plasmasphere above
  (:mod:`ionofield.gimfit`), (a, b, s) = net(physical inputs with Fourier features), fitted
  to the RMS-weighted VTEC misfit; a random tenth of the map cells only picks the best
  state (not to score it: a GIM is itself a smooth expansion, so scores come from another
  product or other sensors). Without a GIM the background is IRI.
- increment (:mod:`ionofield.assim`): profile / in-situ points minus the background,
  spread with correlation lengths of 1500 km, 150 km and 2 h; it is zero a few lengths away
  from every point, so points of another day or place leave the background unchanged.
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


@dataclass
class Analysis:
    """A nowcast field: background (GIM-fitted column net, or IRI when None) + increment."""

    net: ColumnNet | None = None
    inc: Increment | None = None


def fit_day(
    maps: IonexMaps,
    iri_cfg: IRIConfig,
    ns: NowcastSettings,
    seed: int = 0,
    obs: dict | None = None,
    oi: OISettings | None = None,
) -> tuple[Analysis, dict]:
    """Fit the field to one day of GIM maps, then add the increment of the observation-table
    points ``obs`` (profiles, in-situ); returns the analysis and its fit record (GIM residuals
    and, per observation type, the RMSE of the analysis, of the GIM fit alone and of IRI).
    """
    if maps.rms_tecu is None:
        raise IonofieldError("nowcast weights the GIM by its RMS maps; this file has none")
    cols = map_columns(maps, IRIBackground(iri_cfg))
    ok = np.flatnonzero(np.isfinite(cols.obs.numpy()))
    rng = np.random.default_rng(seed)
    is_val = rng.random(ok.size) < ns.val_fraction
    torch.manual_seed(seed)
    net = ColumnNet(0, ns.hidden, ns.layers, ns.fourier, ns.sigma)
    fs = replace(ns.fit, seed=seed)
    rec = fit(net, cols.subset(ok[~is_val]), cols.subset(ok[is_val]), fs)
    pred = predict_vtec(net, cols)
    rec["gim"] = gim_residuals(pred, cols.obs.numpy(), cols.rms.numpy())
    if obs is None:
        return Analysis(net), rec
    analysis, point_rec = assimilate_points(obs, iri_cfg, net, oi)
    return analysis, {**rec, **point_rec}


def assimilate_points(
    obs: dict, iri_cfg: IRIConfig, net: ColumnNet | None = None, oi: OISettings | None = None
) -> tuple[Analysis, dict]:
    """Background (``net``'s field, or IRI) + the increment of the points of ``obs``; returns
    the analysis and its in-sample residuals per observation type.
    """
    iri = _iri_at(obs, iri_cfg)
    bg = _background_at(net, obs, iri, iri_cfg)
    inc = Increment(*(obs[k] for k in _KEYS), obs["log10_ne"] - bg, oi or OISettings())
    pred = bg + inc.at_points(*(obs[k] for k in _KEYS))
    rec = _residuals_by_type(pred, obs["log10_ne"], iri, obs["source"], None if net is None else bg)
    return Analysis(net, inc), rec


_KEYS = ("lat", "lon", "alt_km", "time_s")


def _background_at(net: ColumnNet | None, obs: dict, iri: np.ndarray, cfg: IRIConfig) -> np.ndarray:
    if net is None:
        return iri
    from ionofield import ro

    return ro.predict_points(net, ro.point_inputs({**obs, "log10_ne_iri": iri}, cfg))


def log10_ne_at_points(field: Analysis, obs: dict, iri_cfg: IRIConfig) -> np.ndarray:
    """log10 Ne [m^-3] of the analysis at the points of ``obs`` (lat, lon, alt_km, time_s)."""
    bg = _background_at(field.net, obs, _iri_at(obs, iri_cfg), iri_cfg)
    inc = field.inc.at_points(*(obs[k] for k in _KEYS)) if field.inc is not None else 0.0
    return bg + inc


def _iri_at(obs: dict, iri_cfg: IRIConfig) -> np.ndarray:
    if "log10_ne_iri" in obs:
        return np.asarray(obs["log10_ne_iri"], float)
    return IRIBackground(iri_cfg).log10_ne(obs["lat"], obs["lon"], obs["alt_km"], obs["time_s"])


def _residuals_by_type(
    pred: np.ndarray,
    y: np.ndarray,
    iri: np.ndarray,
    source: np.ndarray,
    gim_fit: np.ndarray | None = None,
) -> dict:
    """log10 Ne RMSE per observation type: the analysis, IRI and (if given) the GIM fit."""
    rmse = lambda a, m: float(np.sqrt(np.mean((a[m] - y[m]) ** 2)))  # noqa: E731
    out = {}
    for code, name in ((0, "insitu"), (1, "profile")):
        m = np.asarray(source) == code
        if m.any():
            out[name] = {"n": int(m.sum()), "rmse_log10": rmse(pred, m),
                         "iri_rmse_log10": rmse(iri, m)}  # fmt: skip
            if gim_fit is not None:
                out[name]["gim_fit_rmse_log10"] = rmse(gim_fit, m)
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


@torch.no_grad()
def _log10_ne_and_scale(field: Analysis, cols: Columns) -> tuple[np.ndarray, torch.Tensor | None]:
    """(log10 Ne [m^-3] on the columns' altitude grid (C, A), plasmasphere scale s or None)."""
    if field.net is None:
        log_ne, s = cols.iri.numpy().copy(), None
    else:
        field.net.eval()
        a, b, s = field.net(cols.feats, cols.extra)
        log_ne = (cols.iri + a[:, None] + b[:, None] * cols.shape).numpy()
    if field.inc is not None:
        log_ne += field.inc.on_columns(cols.lat, cols.lon, cols.time_s, cols.alt.numpy())
    return log_ne, s


def _field_vtec(field: Analysis, cols: Columns, batch: int = 16384) -> np.ndarray:
    from ionofield.operators import column_vtec

    if field.inc is None and field.net is not None:
        return predict_vtec(field.net, cols, batch)
    out = []
    for i in range(0, cols.lat.size, batch):
        c = cols.subset(np.arange(i, min(i + batch, cols.lat.size)))
        log_ne, s = _log10_ne_and_scale(field, c)
        out.append(column_vtec(torch.as_tensor(log_ne).double(), c.alt.double(), c.pec, s))
    return torch.cat(out).numpy().astype(float)


def vtec_maps(field: Analysis, maps: IonexMaps, iri_cfg: IRIConfig) -> np.ndarray:
    """The field's VTEC [TECU] on ``maps``' grid and epochs, (T, H, W), seam column copied."""
    cols = map_columns(maps, IRIBackground(iri_cfg), drop_seam=False)
    return _field_vtec(field, cols).reshape(maps.tec_tecu.shape)


def write_outputs(
    out_dir: str | Path, net: Analysis, maps: IonexMaps, iri_cfg: IRIConfig, record: dict
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
    ne = _log10_ne_and_scale(net, cols)[0].reshape(*maps.tec_tecu.shape, -1)
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
) -> tuple[Analysis, dict, IonexMaps]:
    """Nowcast from profiles / in-situ points alone (no GIM): IRI + the optimal-interpolation
    increment of the points (deterministic); returns it, its record (in-sample residuals per
    observation type) and the map grid of the observed hours.
    """
    maps = grid_template(obs["time_s"])  # refuses more than one day
    analysis, rec = assimilate_points(obs, iri_cfg, None, oi)
    return analysis, {"history": [], **rec}, maps


def read_day(path: str | Path) -> IonexMaps:
    """Read a GIM file for a nowcast (any IONEX flavour)."""
    maps = read_ionex(path)
    if maps.epochs[-1] - maps.epochs[0] > dt.timedelta(days=1):
        raise IonofieldError(f"{path}: a nowcast fits one day; this file spans more")
    if maps.rms_tecu is None:
        raise IonofieldError(f"{path}: nowcast weights the GIM by its RMS maps; this file has none")
    return maps
