"""ionofield profile bench: log10 Ne error against each real COSMIC-2 ionPrf profile.

Leave one profile out: the field is a background + the optimal-interpolation increment of
the *other* profiles (ionofield.nowcast.assimilate_points). The background is the nowcast's
GIM fit of the profile's day (3 seeds) when a GIM of that day is in the data folder, else
IRI (none is, for these days). The increment decays with distance in space and time, so a
profile of another day leaves the field at its background. With IRI as background the
analysis is deterministic: there is no seed to vary (the table says so). Points outside the
field's altitudes (80-1000 km) are dropped at ingest. Writes results/ionofield/profiles.json.

    OMP_NUM_THREADS=1 .venv/bin/python bench/ionofield_profiles.py
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np

from common.results import Table, mean_sd, write_result
from ionofield import geometry, ro, swx
from ionofield import nowcast as nc
from ionofield.assim import OISettings
from ionofield.config import IRIConfig
from ionofield.data import read_ionprf
from ionofield.iri import IRIBackground

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ionofield"


def _same_day_gims(when: dt.datetime) -> list[Path]:
    doy, yy = when.timetuple().tm_yday, when.year
    pats = [f"*{doy:03d}0.{yy % 100:02d}i*", f"*_{yy}{doy:03d}0000_01D_*GIM.INX*"]
    return sorted(p for pat in pats for p in DATA.glob(pat))


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def _nearest_km(table: dict, held: np.ndarray) -> float:
    """Smallest surface distance [km] between the held profile's points and the others'."""
    a = geometry.unit_vector(table["lat"][held], table["lon"][held])
    b = geometry.unit_vector(table["lat"][~held], table["lon"][~held])
    cos = np.clip(a @ b.T, -1.0, 1.0)
    return float(6371.0 * np.arccos(cos.max()))


def iri_diagnosis(path: Path, cfg: IRIConfig) -> list[str]:
    """IRI on every point of the file vs inside 80-1000 km, and with an 81-day mean F10.7."""
    p = read_ionprf(path)
    t = float(p["time_s"][0])
    day = int(t // 86400)
    f107 = swx.f107_at(np.array([t]))[0]
    f81 = float(np.mean(swx.f107_at(86400.0 * (day + np.arange(-40, 41)) + 43200.0)))
    inside = (p["alt_km"] >= cfg.alt_min_km) & (p["alt_km"] <= cfg.alt_max_km)
    out = []
    for f in (None, f81):
        iri = IRIBackground(cfg, f107_override=f).log10_ne(p["lat"], p["lon"], p["alt_km"],
                                                          p["time_s"])  # fmt: skip
        out += [_rmse(iri, p["log10_ne"]), _rmse(iri[inside], p["log10_ne"][inside])]
    return [path.name, f"{p['alt_km'].min():.0f}", str(int((~inside).sum())),
            f"{swx.kp_at(np.array([t]))[0]:.1f}", f"{f107:.1f}", f"{f81:.1f}",
            *(f"{v:.3f}" for v in out)]  # fmt: skip


def _backgrounds(when: dt.datetime, cfg: IRIConfig, seeds: list[int]) -> list:
    """The GIM fits of the profile's day (one per seed) when a GIM exists, else [None] (IRI)."""
    gims = _same_day_gims(when)
    if not gims:
        return [None]
    maps = nc.read_day(gims[0])
    return [nc.fit_day(maps, cfg, nc.NowcastSettings(), s)[0].net for s in seeds]


def main() -> None:
    files = sorted(DATA.glob("ionPrf_*.nc"))
    cfg, oi, seeds = IRIConfig(), OISettings(), [0, 1, 2]
    table = ro.ingest(files, cfg)
    rows, raw, used_seeds = [], {}, False
    for k, path in enumerate(files):
        held = table["profile_id"] == k
        part = lambda m: {c: v[m] for c, v in table.items()}  # noqa: E731
        when = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=float(table["time_s"][held][0]))
        preds = []
        for net in _backgrounds(when, cfg, seeds):
            analysis, _ = nc.assimilate_points(part(~held), cfg, net, oi)
            preds.append(nc.log10_ne_at_points(analysis, part(held), cfg))
        used_seeds |= len(preds) > 1
        iri, obs = table["log10_ne_iri"][held], table["log10_ne"][held]
        scores = [_rmse(p, obs) for p in preds]
        gap_h = np.min(np.abs(table["time_s"][~held] - table["time_s"][held][0])) / 3600.0
        gap_km = _nearest_km(table, held)
        r = {"n": int(held.sum()), "iri_rmse": _rmse(iri, obs), "model_rmse": scores,
             "iri_bias": float(np.mean(iri - obs)),
             "model_bias": [float(np.mean(p - obs)) for p in preds],
             "gim_background": bool(_same_day_gims(when)),
             "nearest_other_profile_h": float(gap_h), "nearest_other_profile_km": gap_km,
             "max_abs_change_from_iri": float(np.max(np.abs(preds[0] - iri)))}  # fmt: skip
        m, sd = mean_sd(scores)
        cell = f"{m:.3f} +- {sd:.3f}" if len(scores) > 1 else f"{m:.3f}"
        rows.append([path.name, f"{when:%Y-%m-%d %H:%M}", str(r["n"]), f"{gap_h:.1f}",
                     f"{gap_km:.0f}", "yes" if r["gim_background"] else "no (IRI)",
                     f"{r['iri_rmse']:.3f}", cell])  # fmt: skip
        raw[path.name] = r
    out = Table(
        "profiles",
        [
            "profile",
            "time (UTC)",
            "points (80-1000 km)",
            "nearest other profile (h)",
            "nearest other profile (km, any two points)",
            "GIM of the day as background",
            "IRI log10 Ne RMSE",
            "ionofield log10 Ne RMSE",
        ],  # fmt: skip
        rows,
        caption="log10 Ne RMSE against each COSMIC-2 profile, leave one profile out: ionofield "
        "= background (the GIM fit of the day, 3 seeds, when a GIM exists; else IRI) + optimal "
        "interpolation of the other profiles. With IRI as background the analysis is "
        "deterministic: one run, no seed spread.",
    )
    diag = Table(
        "iri",
        ["profile", "lowest point (km)", "points outside 80-1000 km", "Kp", "F10.7 (day)",
         "F10.7 (81-day mean)", "IRI RMSE, all points", "IRI RMSE, 80-1000 km",
         "IRI RMSE (81-day F10.7), all points", "IRI RMSE (81-day F10.7), 80-1000 km"],
        [iri_diagnosis(f, cfg) for f in files],
        caption="IRI against each whole ionPrf file: the points below the IRI grid (80 km) "
        "compare with IRI's clamped 80-km value; F10.7 as used (observed daily) and as an "
        "81-day centred mean.",
    )  # fmt: skip
    config = {"files": [f.name for f in files], "oi": dataclasses.asdict(oi),
              "iri": dataclasses.asdict(cfg)}  # fmt: skip
    path = write_result("ionofield", "profiles", tables=[out, diag], config=config,
                        seeds=seeds if used_seeds else [],
                        title="ionofield vs IRI on COSMIC-2 profiles", raw=raw)  # fmt: skip
    for row in rows:
        print(" | ".join(row))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
