"""Day-ahead forecast of global VTEC maps from the GIMs of days <= D.

Design (residual over the previous day, learned by the ionofield field):
- The prior of day k is IRI driven by the F10.7 of day k-1 (the last one known when the
  forecast is issued) plus the empirical plasmasphere; all space-weather inputs are lagged
  by 24 h for the same reason. Nothing of day k is an input.
- The previous day's residual enters as rho_{k-1} = log10(GIM_{k-1} / prior_{k-1}) at the same
  cell and UT; the field's column shift is a = gain * rho_{k-1} + net(physical inputs, rho).
- Training pairs (k-1 -> k) for k = 2..D; the validation maps are every third epoch of each
  training target day (used only to keep the best state); day D+1 is never seen.
- One day of maps (D = 1) has no training pair: nothing is learned and the forecast is the
  untrained field, a = rho_D (gain 1, net 0): the day-ahead prior scaled by day D's ratio
  GIM / prior at the same cell and UT. Deterministic (no seed changes it).
VTEC of the field = operators.column_vtec (IRI-shaped column + plasmasphere), fitted with
the GIM RMS maps as weights.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ionofield import swx
from ionofield.config import IRIConfig
from ionofield.errors import IonofieldError
from ionofield.gimfit import (
    ColumnNet,
    Columns,
    FitSettings,
    build_columns,
    fit,
    predict_vtec,
    prior_vtec,
)
from ionofield.ionex import IonexMaps, read_ionex
from ionofield.iri import IRIBackground

RHO_CLIP = 1.0


@dataclass
class DayMaps:
    """One UTC day of maps: epochs on that day only (the next day's 00 UT map is dropped)."""

    day: dt.date
    ut_h: np.ndarray  # (T,)
    lat_deg: np.ndarray  # (H,)
    lon_deg: np.ndarray  # (W,)
    tec: np.ndarray  # (T, H, W)
    rms: np.ndarray  # (T, H, W) (NaN where the file has none)


def read_days(paths: Sequence[str | Path]) -> list[DayMaps]:
    """Read IONEX files of consecutive UTC days (any order), same grid and UT epochs."""
    days = [_day_maps(read_ionex(p), p) for p in paths]
    days.sort(key=lambda d: d.day)
    for a, b in zip(days, days[1:]):
        if (b.day - a.day).days != 1:
            raise IonofieldError(f"forecast needs consecutive days; got {a.day} then {b.day}")
        if not np.array_equal(a.ut_h, b.ut_h) or a.tec.shape != b.tec.shape:
            raise IonofieldError(f"maps of {a.day} and {b.day} differ in epochs or grid")
    return days


def _day_maps(m: IonexMaps, path: str | Path) -> DayMaps:
    day = m.epochs[0].date()
    keep = [i for i, e in enumerate(m.epochs) if e.date() == day]
    ut = np.array([m.epochs[i].hour + m.epochs[i].minute / 60.0 for i in keep])
    rms = m.rms_tecu[keep] if m.rms_tecu is not None else np.full_like(m.tec_tecu[keep], np.nan)
    if not np.all(np.isfinite(m.tec_tecu[keep])):
        raise IonofieldError(f"{path}: maps with missing cells are not supported by forecast")
    return DayMaps(day, ut, m.lat_deg, m.lon_deg, m.tec_tecu[keep], rms)


def _grid(d: DayMaps, day: dt.date) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t0 = (dt.datetime.combine(day, dt.time()) - swx.EPOCH).total_seconds()
    tt, la, lo = np.meshgrid(t0 + d.ut_h * 3600.0, d.lat_deg, d.lon_deg, indexing="ij")
    return la.ravel(), lo.ravel(), tt.ravel()


def day_columns(d: DayMaps, day: dt.date, iri_cfg: IRIConfig, causal: bool) -> Columns:
    """Columns on ``d``'s grid for ``day``; causal: IRI with yesterday's F10.7, lagged drivers."""
    f107 = swx.f107_of_day(day - dt.timedelta(days=1)) if causal else None
    bg = IRIBackground(iri_cfg, f107_override=f107)
    return build_columns(*_grid(d, day), bg, sw_lag_s=86400.0 if causal else 0.0)


def log_ratio(obs: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """log10(obs / prior), both floored at 0.1 TECU, clipped to +-RHO_CLIP."""
    r = np.log10(np.maximum(obs, 0.1) / np.maximum(prior, 0.1))
    return np.clip(r, -RHO_CLIP, RHO_CLIP)


def _with_obs(cols: Columns, d: DayMaps | None, rho: np.ndarray) -> Columns:
    f = lambda a: torch.as_tensor(a.ravel(), dtype=torch.float32)  # noqa: E731
    obs = f(d.tec) if d is not None else cols.obs
    rms = f(d.rms) if d is not None else cols.rms
    return replace(cols, extra=f(rho)[:, None], obs=obs, rms=rms)


def _cat(parts: list[Columns]) -> Columns:
    cat = lambda name: (np.concatenate if isinstance(getattr(parts[0], name), np.ndarray)  # noqa: E731
                        else torch.cat)([getattr(p, name) for p in parts])  # fmt: skip
    names = ("lat", "lon", "time_s", "feats", "extra", "iri", "shape", "pec")
    kw = {n: cat(n) for n in names}
    return Columns(**kw, alt=parts[0].alt, obs=cat("obs"), rms=cat("rms"))


@dataclass
class ForecastData:
    """Training, validation and target columns of one forecast."""

    train: Columns
    val: Columns
    target: Columns  # day D+1 (its obs are NaN: never seen)
    target_day: dt.date
    template: DayMaps


def prepare(days: list[DayMaps], iri_cfg: IRIConfig, val_every: int = 3) -> ForecastData:
    """Columns of the training pairs (days 2..D) and of day D+1."""
    if not days:
        raise IonofieldError("forecast needs at least one day of maps")
    rho, pairs = [], []
    for d in days:
        own = day_columns(d, d.day, iri_cfg, causal=False)
        rho.append(log_ratio(d.tec.ravel(), prior_vtec(own).numpy()))
    for k in range(1, len(days)):
        cols = day_columns(days[k], days[k].day, iri_cfg, causal=True)
        pairs.append(_with_obs(cols, days[k], rho[k - 1]))
    target_day = days[-1].day + dt.timedelta(days=1)
    target = _with_obs(day_columns(days[-1], target_day, iri_cfg, causal=True), None, rho[-1])
    if not pairs:  # one day: no training pair (see the module notes)
        none = target.subset(np.zeros(0, dtype=np.int64))
        return ForecastData(none, none, target, target_day, days[-1])
    allc = _cat(pairs)
    n_cell = days[0].lat_deg.size * days[0].lon_deg.size
    epoch_idx = (np.arange(allc.lat.size) // n_cell) % days[0].ut_h.size
    is_val = epoch_idx % val_every == val_every - 1
    return ForecastData(
        allc.subset(np.flatnonzero(~is_val)),
        allc.subset(np.flatnonzero(is_val)),
        target,
        target_day,
        days[-1],
    )


@dataclass(frozen=True)
class ForecastSettings:
    """Network and optimisation of the forecast field."""

    hidden: int = 32
    layers: int = 2
    fourier: int = 0
    inputs: tuple[str, ...] = ("sin_mlat", "sin_lt", "cos_lt", "cos_sza")
    """Physical inputs of the net (geographic position is left out by default: with one
    training pair it lets the net memorise that day's anomaly map)."""
    fit: FitSettings = FitSettings(steps=800, batch=4096, lr=3e-3, weight_decay=1e-3, w_net=1.0)


def run(data: ForecastData, fs: ForecastSettings, seed: int) -> tuple[np.ndarray, dict]:
    """Fit one seed; returns the day D+1 maps (T, H, W) [TECU] and the fit record."""
    torch.manual_seed(seed)
    net = ColumnNet(1, fs.hidden, fs.layers, fs.fourier, inputs=fs.inputs)
    if data.train.lat.size:
        rec = fit(net, data.train, data.val, replace(fs.fit, seed=seed))
    else:  # the untrained field: zero head, gain 1 -> a = rho of day D
        rec = {"history": [], "best_val_rmse": float("nan"), "trained": False}
    pred = predict_vtec(net, data.target).reshape(data.template.tec.shape)
    rec["gain"] = float(net.gain.detach())
    return pred, rec


def to_ionex(pred: np.ndarray, data: ForecastData) -> IonexMaps:
    """Predicted maps as :class:`IonexMaps` on the template grid (no RMS maps)."""
    t0 = dt.datetime.combine(data.target_day, dt.time())
    epochs = [t0 + dt.timedelta(hours=float(h)) for h in data.template.ut_h]
    tmpl = data.template
    return IonexMaps(epochs, tmpl.lat_deg, tmpl.lon_deg, pred, None, 450.0)


def default_candidates() -> dict[str, ForecastSettings]:
    """The two input sets the validation maps choose between (never the forecast day)."""
    from ionofield.geometry import FEATURE_NAMES

    return {
        "physical inputs": ForecastSettings(),
        "physical inputs + position": ForecastSettings(inputs=FEATURE_NAMES),
    }


def select_and_run(
    data: ForecastData, candidates: dict[str, ForecastSettings], seeds: Sequence[int]
) -> dict:
    """Fit every candidate for every seed; choose by mean validation RMSE.

    Returns {"chosen": name, "runs": {name: [(pred maps, record) per seed]}, "val": {name: mean
    validation RMSE}}; the forecast day enters nothing but the predictions.
    """
    if not data.train.lat.size:  # one day: nothing to fit or choose, one deterministic run
        name = next(iter(candidates))
        return {"chosen": name, "runs": {name: [run(data, candidates[name], seeds[0])]},
                "val": {name: float("nan")}}  # fmt: skip
    runs = {name: [run(data, fs, s) for s in seeds] for name, fs in candidates.items()}
    val = {n: float(np.mean([r["best_val_rmse"] for _, r in rs])) for n, rs in runs.items()}
    return {"chosen": min(val, key=val.get), "runs": runs, "val": val}
