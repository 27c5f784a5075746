"""Observation data: tables (HDF5/CSV), COSMIC-2 ionPrf profiles, scenarios, batching.

Observation table columns: ``lat`` [deg], ``lon`` [deg], ``alt_km``, ``time_s`` (UNIX
seconds, UTC; CSV may give ISO-8601 ``time`` instead), ``log10_ne`` [log10 m^-3]; optional
``source`` (0 in-situ, 1 profile), ``profile_id``, ``sigma``, ``log10_ne_true``.

Batching: observations are binned by UT hour; a batch draws from ``bins_per_batch`` bins,
so its TEC windows (the hourly maps ending at each bin) are few and computed once per
unique window, then indexed per point (``torch.unique(..., return_inverse=True)``).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ionofield.errors import DataFormatError, IonofieldError

REQUIRED = ("lat", "lon", "alt_km", "time_s", "log10_ne")
OPTIONAL = {"source": np.int8, "profile_id": np.int32, "sigma": float, "log10_ne_true": float}


def _validate(cols: dict, path: Path) -> dict:
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise DataFormatError(path, f"missing column(s) {', '.join(missing)}")
    out = {}
    for k in (*REQUIRED, *(k for k in OPTIONAL if k in cols)):
        try:
            out[k] = np.asarray(cols[k], float)
        except (TypeError, ValueError):
            raise DataFormatError(path, f"column '{k}' is not numeric") from None
    n = out["lat"].size
    if n == 0 or any(v.shape != (n,) for v in out.values()):
        raise DataFormatError(path, "columns are empty, not 1-D or of unequal length")
    for k, dtype in OPTIONAL.items():
        if k in out and dtype is not float:
            if not np.all(np.isfinite(out[k])):
                raise DataFormatError(path, f"column '{k}' holds NaN/inf")
            out[k] = out[k].astype(dtype)
    bad = ~np.all([np.isfinite(out[k]) for k in REQUIRED], axis=0)
    if bad.any():
        raise DataFormatError(
            path, f"{int(bad.sum())} rows with NaN/inf (first at row {int(np.argmax(bad))})"
        )
    if (np.abs(out["lat"]) > 90).any() or (out["alt_km"] < 0).any():
        raise DataFormatError(path, "latitude outside [-90, 90] or negative altitude")
    if (np.abs(out["lon"]) > 360).any():
        raise DataFormatError(path, "longitude outside [-360, 360]")
    out.setdefault("source", np.zeros(n, np.int8))
    out.setdefault("profile_id", np.full(n, -1, np.int32))
    return out


def read_observations(path: str | Path) -> dict:
    """Read an observation table (``.h5``/``.hdf5`` group ``observations`` or ``.csv``)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "file not found")
    if path.suffix.lower() == ".csv":
        return _validate(_read_csv(path), path)
    import h5py

    try:
        with h5py.File(path, "r") as f:
            grp = f["observations"] if "observations" in f else f
            cols = {k: grp[k][()] for k in grp.keys() if isinstance(grp[k], h5py.Dataset)}
    except OSError as exc:
        raise DataFormatError(path, f"not a readable HDF5 file ({exc})") from None
    return _validate(cols, path)


def _read_csv(path: Path) -> dict:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise DataFormatError(path, "empty CSV")
    cols = {k: [r[k] for r in rows] for k in rows[0]}
    if "time_s" not in cols and "time" in cols:
        try:
            cols["time_s"] = [_iso_to_s(v) for v in cols.pop("time")]
        except ValueError as exc:
            raise DataFormatError(path, f"bad ISO time ({exc})") from None
    try:
        return {k: np.asarray(v, float) for k, v in cols.items() if k in REQUIRED or k in OPTIONAL}
    except ValueError as exc:
        raise DataFormatError(path, f"non-numeric value ({exc})") from None


def _iso_to_s(text: str) -> float:
    t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return (t - dt.datetime(1970, 1, 1)).total_seconds()


def write_observations(path: str | Path, cols: dict, meta: dict | None = None) -> None:
    """Write a table to HDF5 (group ``observations``, JSON ``meta`` attribute), atomically."""
    import h5py

    from common.io import atomic_path

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        grp = f.create_group("observations")
        for k, v in cols.items():
            grp.create_dataset(k, data=np.asarray(v), compression="gzip", compression_opts=1)
        f.attrs["meta"] = json.dumps(meta or {}, default=str)


def read_ionprf(path: str | Path) -> dict:
    """A COSMIC-2 ``ionPrf`` netCDF profile as an observation table (Ne cm^-3 -> m^-3).

    Time: the occultation epoch in the global attributes (year .. second). Fill values
    (-999) and non-positive densities are dropped.
    """
    import netCDF4

    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "file not found")
    try:
        with netCDF4.Dataset(path) as ds:
            cols = {
                k: np.ma.filled(ds[v][:].astype(float), np.nan)
                for k, v in (
                    ("alt_km", "MSL_alt"),
                    ("lat", "GEO_lat"),
                    ("lon", "GEO_lon"),
                    ("ne", "ELEC_dens"),
                )
            }
            when = dt.datetime(
                int(ds.year), int(ds.month), int(ds.day), int(ds.hour), int(ds.minute)
            ) + dt.timedelta(seconds=float(ds.second))
    except (OSError, IndexError, AttributeError) as exc:
        raise DataFormatError(path, f"not a COSMIC-2 ionPrf netCDF file ({exc})") from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataFormatError(path, f"bad occultation time attributes ({exc})") from None
    n = cols["ne"].size
    if any(v.shape != (n,) for v in cols.values()):
        raise DataFormatError(
            path, "MSL_alt, GEO_lat, GEO_lon, ELEC_dens are not 1-D of one length"
        )
    ok = np.all([np.isfinite(v) for v in cols.values()], axis=0)  # fill values are NaN here
    ok &= (cols["ne"] > 0) & (cols["alt_km"] > -900)
    if not ok.any():
        raise DataFormatError(path, "no valid electron densities")
    t = (when - dt.datetime(1970, 1, 1)).total_seconds()
    out = {k: cols[k][ok] for k in ("lat", "lon", "alt_km")}
    out.update(
        time_s=np.full(int(ok.sum()), t),
        log10_ne=np.log10(cols["ne"][ok] * 1e6),
        source=np.ones(int(ok.sum()), np.int8),
        profile_id=np.zeros(int(ok.sum()), np.int32),
    )
    return _validate(out, path)  # latitude, altitude and longitude ranges


@dataclass
class Scenario:
    """A scenario folder: observations, hourly TEC maps, metadata."""

    obs: dict
    tec_epochs_s: np.ndarray  # (T,) UNIX seconds, hourly
    tec_tecu: np.ndarray  # (T, 71, 73)
    meta: dict
    folder: str = ""
    """The scenario folder (named by errors found later, e.g. by ``prepare``)."""


def load_scenario(folder: str | Path) -> Scenario:
    """Read ``observations.h5`` (or .csv) and every IONEX file of ``folder/tec``."""
    from ionofield.ionex import read_ionex

    folder = Path(folder)
    obs_path = next(
        (folder / n for n in ("observations.h5", "observations.csv") if (folder / n).is_file()),
        None,
    )
    if obs_path is None:
        raise IonofieldError(
            f"{folder}: no observations.h5 or observations.csv (run `ionofield simulate`)"
        )
    obs = read_observations(obs_path)
    pats = ("*.*i", "*.*i.Z", "*.*i.gz", "*.INX", "*.INX.gz")  # every IONEX flavour
    files = sorted({f for pat in pats for f in (folder / "tec").glob(pat)})
    if not files:
        raise IonofieldError(f"{folder}/tec: no IONEX files ({', '.join(pats)})")
    epochs, maps = {}, {}
    for f in files:
        m = read_ionex(f)
        for e, tec in zip(m.epochs, m.tec_tecu):
            if not np.isfinite(tec).any():
                raise DataFormatError(f, f"the map of {e:%Y-%m-%d %H:%M} has no values (all 9999)")
            s = (e - dt.datetime(1970, 1, 1)).total_seconds()
            epochs[s], maps[s] = s, np.nan_to_num(tec, nan=np.nanmean(tec))
    keys = sorted(epochs)
    meta = read_scenario_meta(folder / "scenario.json")
    return Scenario(obs, np.array(keys), np.stack([maps[k] for k in keys]), meta, str(folder))


def read_scenario_meta(path: Path) -> dict:
    """``scenario.json`` (optional: {} when absent); a :class:`DataFormatError` when malformed."""
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise DataFormatError(path, f"not valid JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(meta, dict):
        raise DataFormatError(path, f"expected a JSON object, got {type(meta).__name__}")
    return meta


class TimeBinnedBatchSampler:
    """Yields index arrays; each batch draws from ``bins_per_batch`` random time bins.

    Deterministic in (seed, epoch); with ``world_size`` > 1 the batches of an epoch are dealt
    round-robin to the ranks (every rank sees the same number of batches).
    """

    def __init__(
        self,
        bin_idx: np.ndarray,
        batch_size: int,
        bins_per_batch: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.bins = [np.flatnonzero(bin_idx == b) for b in np.unique(bin_idx)]
        self.batch_size, self.k = batch_size, max(1, min(bins_per_batch, len(self.bins)))
        self.seed, self.rank, self.world = seed, rank, world_size
        self.n_per_epoch = max(1, int(np.ceil(bin_idx.size / batch_size)) // world_size)

    def epoch(self, epoch: int) -> list[np.ndarray]:
        """The batches of this rank for ``epoch``."""
        rng = np.random.default_rng([self.seed, epoch])
        batches = []
        for _ in range(self.n_per_epoch * self.world):
            chosen = rng.choice(len(self.bins), self.k, replace=False)
            pool = np.concatenate([self.bins[c] for c in chosen])
            batches.append(rng.choice(pool, self.batch_size, replace=pool.size < self.batch_size))
        return batches[self.rank :: self.world]


def holdout_mask(time_s: np.ndarray, t0_s: float, block_h: int, every: int) -> np.ndarray:
    """True for observations in held-out time blocks (every ``every``-th block of ``block_h`` h)."""
    if every <= 0:
        return np.zeros(time_s.shape, bool)
    block = np.floor((time_s - t0_s) / (3600.0 * block_h)).astype(np.int64)
    return np.mod(block, every) == every - 1
