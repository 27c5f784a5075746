"""ionofield profile bench: log10 Ne error against each real COSMIC-2 ionPrf profile.

Leave one profile out: the field is IRI + the optimal-interpolation increment of the *other*
profiles (ionofield.assim; with the GIM of the profile's day as background when one is in
the data folder; none is for these days). The increment decays with distance in space and
time, so a profile of another day leaves the field at IRI. The analysis is deterministic:
there is no seed to vary (the table says so). Points outside the field's altitudes (80-1000
km) are dropped at ingest. Writes results/ionofield/profiles.json.

    OMP_NUM_THREADS=1 .venv/bin/python bench/ionofield_profiles.py
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np

from common.results import Table, write_result
from ionofield import geometry, ro, swx
from ionofield.assim import Increment, OISettings
from ionofield.config import IRIConfig
from ionofield.data import read_ionprf
from ionofield.iri import IRIBackground

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ionofield"
KEYS = ("lat", "lon", "alt_km", "time_s")


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


def main() -> None:
    files = sorted(DATA.glob("ionPrf_*.nc"))
    cfg, oi = IRIConfig(), OISettings()
    table = ro.ingest(files, cfg)
    resid = table["log10_ne"] - table["log10_ne_iri"]
    rows, raw = [], {}
    for k, path in enumerate(files):
        held = table["profile_id"] == k
        when = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=float(table["time_s"][held][0]))
        if _same_day_gims(when):
            raise SystemExit(f"a GIM of {when:%Y-%m-%d} is present: add it as the background")
        train = ~held
        inc = Increment(*(table[c][train] for c in KEYS), resid[train], oi)
        step = inc.at_points(*(table[c][held] for c in KEYS))
        iri, obs = table["log10_ne_iri"][held], table["log10_ne"][held]
        pred = iri + step
        gap_h = np.min(np.abs(table["time_s"][train] - table["time_s"][held][0])) / 3600.0
        gap_km = _nearest_km(table, held)
        r = {"n": int(held.sum()), "iri_rmse": _rmse(iri, obs), "model_rmse": _rmse(pred, obs),
             "iri_bias": float(np.mean(iri - obs)), "model_bias": float(np.mean(pred - obs)),
             "nearest_other_profile_h": float(gap_h), "nearest_other_profile_km": gap_km,
             "max_abs_increment": float(np.max(np.abs(step)))}  # fmt: skip
        rows.append([path.name, f"{when:%Y-%m-%d %H:%M}", str(r["n"]), f"{gap_h:.1f}",
                     f"{gap_km:.0f}",
                     f"{r['iri_rmse']:.3f}", f"{r['model_rmse']:.3f}"])  # fmt: skip
        raw[path.name] = r
    out = Table(
        "profiles",
        [
            "profile",
            "time (UTC)",
            "points (80-1000 km)",
            "nearest other profile (h)",
            "nearest other profile (km, any two points)",
            "IRI log10 Ne RMSE",
            "ionofield log10 Ne RMSE",
        ],  # fmt: skip
        rows,
        caption="log10 Ne RMSE against each COSMIC-2 profile, leave one profile out: ionofield "
        "= IRI + optimal interpolation of the other profiles (no GIM of these days exists in "
        "the data). Deterministic analysis: one run, no seed spread.",
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
    path = write_result("ionofield", "profiles", tables=[out, diag], config=config, seeds=[],
                        title="ionofield vs IRI on COSMIC-2 profiles", raw=raw)  # fmt: skip
    for row in rows:
        print(" | ".join(row))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
