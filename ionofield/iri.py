"""IRI background through PyPI ``pyiri`` (offline coefficients), driven by real daily F10.7.

One ``IRI_density_1day`` call per UTC day fills a cube log10 Ne(hour 0..24, alt, lat, lon)
on a regular grid; points are then interpolated (multilinear in hour, altitude, latitude
and periodic longitude), never one IRI call per point. Cubes are cached in memory and on
disk (``.npz``) under a key made of the date, F10.7 (0.1 sfu), the grid and the pyiri version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ionofield import swx
from ionofield.config import IRIConfig

NE_FLOOR_M3 = 1.0e6
# pyiri accepts UT < 24 only: the 25th slot (24 h) is taken just before midnight.
CUBE_HOURS = np.append(np.arange(24.0), 23.9999)


@dataclass(frozen=True)
class DayCube:
    """IRI of one UTC day on the grid: arrays indexed (hour 0..24, [alt,] lat, lon)."""

    log10_ne: np.ndarray  # (25, n_alt, n_lat, n_lon) float32, log10 m^-3
    nmf2_m3: np.ndarray  # (25, n_lat, n_lon)
    hmf2_km: np.ndarray  # (25, n_lat, n_lon)
    f107: float


def grid_axes(cfg: IRIConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat_deg -90..90, lon_deg -180..180 inclusive, alt_km) of the cube grid."""
    lat = np.linspace(-90.0, 90.0, int(round(180.0 / cfg.dlat_deg)) + 1)
    lon = np.linspace(-180.0, 180.0, int(round(360.0 / cfg.dlon_deg)) + 1)
    alt = np.arange(cfg.alt_min_km, cfg.alt_max_km + 0.5 * cfg.dalt_km, cfg.dalt_km)
    return lat, lon, alt


def run_pyiri_day(
    day: dt.date, f107: float, lat: np.ndarray, lon: np.ndarray, alt: np.ndarray, hours: np.ndarray
) -> tuple[np.ndarray, dict]:
    """Direct pyiri call: (EDP [hours, alt, points] m^-3, F2 parameter dict [hours, points])."""
    import PyIRI
    import PyIRI.main_library as ml

    f2, _f1, _e, _es, _sun, _mag, edp = ml.IRI_density_1day(
        day.year,
        day.month,
        day.day,
        np.asarray(hours, float),
        np.asarray(lon, float),
        np.asarray(lat, float),
        np.asarray(alt, float),
        float(f107),
        PyIRI.coeff_dir,
        0,
    )
    return edp, f2


class IRIBackground:
    """log10 Ne of IRI at arbitrary (lat, lon, alt, time) points via cached daily cubes."""

    def __init__(
        self,
        cfg: IRIConfig,
        cache_dir: str | Path | None = None,
        f107_override: float | None = None,
    ) -> None:
        self.cfg = cfg
        self.lat, self.lon, self.alt = grid_axes(cfg)
        root = cache_dir if cache_dir is not None else (cfg.cache_dir or _default_cache())
        self.cache_dir = Path(root).expanduser() if root else None
        self.f107_override = f107_override
        self._cubes: dict[dt.date, DayCube] = {}
        self.n_pyiri_calls = 0

    def cache_key(self, day: dt.date, f107: float) -> str:
        """File stem of a cube: date, F10.7 and a hash of the grid and pyiri version."""
        from importlib.metadata import version

        spec = json.dumps(
            {**asdict(self.cfg), "cache_dir": None, "pyiri": version("PyIRI")}, sort_keys=True
        )
        return f"iri_{day:%Y%m%d}_f{f107:.1f}_{hashlib.sha1(spec.encode()).hexdigest()[:12]}"

    def cube(self, day: dt.date) -> DayCube:
        """The day's cube: memory, then disk cache, else one pyiri call (saved atomically)."""
        if day in self._cubes:
            return self._cubes[day]
        f107 = self.f107_override if self.f107_override is not None else swx.f107_of_day(day)
        path = self.cache_dir / f"{self.cache_key(day, f107)}.npz" if self.cache_dir else None
        cube = _load_cube(path) if path is not None and path.is_file() else None
        if cube is None:
            cube = self._compute(day, f107)
            if path is not None:
                _save_cube(path, cube)
        if len(self._cubes) >= self.cfg.memory_days:
            self._cubes.pop(next(iter(self._cubes)))
        self._cubes[day] = cube
        return cube

    def _compute(self, day: dt.date, f107: float) -> DayCube:
        lon2, lat2 = np.meshgrid(self.lon, self.lat)
        edp, f2 = run_pyiri_day(day, f107, lat2.ravel(), lon2.ravel(), self.alt, CUBE_HOURS)
        self.n_pyiri_calls += 1
        shape = (25, self.lat.size, self.lon.size)
        log_ne = np.log10(np.maximum(edp, NE_FLOOR_M3)).reshape(25, self.alt.size, *shape[1:])
        return DayCube(
            log_ne.astype(np.float32),
            np.asarray(f2["Nm"]).reshape(shape),
            np.asarray(f2["hm"]).reshape(shape),
            float(f107),
        )

    def _frac(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fy = (np.clip(lat, -90.0, 90.0) + 90.0) / self.cfg.dlat_deg
        fx = (np.mod(np.asarray(lon, float) + 180.0, 360.0)) / self.cfg.dlon_deg
        return fy, fx

    def _per_day(self, time_s: np.ndarray, fn: Callable[..., np.ndarray]) -> np.ndarray:
        """Apply ``fn(cube, fractional_hour, mask)`` to the points of each UTC day."""
        time_s = np.asarray(time_s, float)
        day_index = np.floor(time_s / 86400.0).astype(np.int64)
        out = np.empty(time_s.shape, dtype=np.float64)
        for d in np.unique(day_index):
            mask = day_index == d
            cube = self.cube((swx.EPOCH + dt.timedelta(days=int(d))).date())
            out[mask] = fn(cube, (time_s[mask] - d * 86400.0) / 3600.0, mask)
        return out

    def log10_ne(
        self, lat: np.ndarray, lon: np.ndarray, alt_km: np.ndarray, time_s: np.ndarray
    ) -> np.ndarray:
        """IRI log10 Ne [m^-3] at points (1-D arrays of equal length, UNIX seconds)."""
        lat, lon, alt_km = (np.asarray(a, float) for a in (lat, lon, alt_km))
        fy, fx = self._frac(lat, lon)
        fz = (np.clip(alt_km, self.alt[0], self.alt[-1]) - self.alt[0]) / self.cfg.dalt_km

        def fn(cube: DayCube, fh: np.ndarray, m: np.ndarray) -> np.ndarray:
            return multilinear(cube.log10_ne, (fh, fz[m], fy[m], fx[m]))

        return self._per_day(time_s, fn)

    def f2_peak(
        self, lat: np.ndarray, lon: np.ndarray, time_s: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(NmF2 [m^-3], hmF2 [km]) at (lat, lon, time) points."""
        fy, fx = self._frac(np.asarray(lat, float), np.asarray(lon, float))
        nm = self._per_day(
            time_s, lambda c, fh, m: 10 ** multilinear(np.log10(c.nmf2_m3), (fh, fy[m], fx[m]))
        )
        hm = self._per_day(time_s, lambda c, fh, m: multilinear(c.hmf2_km, (fh, fy[m], fx[m])))
        return nm, hm

    def derivatives(
        self, lat: np.ndarray, lon: np.ndarray, alt_km: np.ndarray, time_s: np.ndarray
    ) -> np.ndarray:
        """Central differences of log10 Ne: d/dlat, d/dlon [1/deg], d2/dh2 [1/(100 km)^2]."""
        dd, dh = 0.5, 0.5 * self.cfg.dalt_km
        f = lambda a, b, c: self.log10_ne(a, b, c, time_s)  # noqa: E731
        d_lat = (f(lat + dd, lon, alt_km) - f(lat - dd, lon, alt_km)) / (2 * dd)
        d_lon = (f(lat, lon + dd, alt_km) - f(lat, lon - dd, alt_km)) / (2 * dd)
        d2 = (f(lat, lon, alt_km + dh) - 2 * f(lat, lon, alt_km) + f(lat, lon, alt_km - dh)) / (
            dh / 100.0
        ) ** 2
        return np.stack([d_lat, d_lon, d2], axis=-1)


def multilinear(values: np.ndarray, frac_idx: tuple[np.ndarray, ...]) -> np.ndarray:
    """Multilinear interpolation of ``values`` at fractional indices (one array per axis)."""
    lo, w = [], []
    for axis, f in enumerate(frac_idx):
        n = values.shape[axis]
        f = np.clip(np.asarray(f, float), 0.0, n - 1)
        i0 = np.minimum(np.floor(f).astype(np.int64), n - 2)
        lo.append(i0)
        w.append(f - i0)
    out = np.zeros(np.shape(frac_idx[0]), dtype=np.float64)
    # an axis whose points all sit on nodes (e.g. maps at whole hours) needs no upper corner
    choices = [(0,) if not np.any(wi) else (0, 1) for wi in w]
    for corner in itertools.product(*choices):
        weight = np.ones_like(out)
        for c, wi in zip(corner, w):
            weight = weight * (wi if c else 1.0 - wi)
        out += weight * values[tuple(i + c for i, c in zip(lo, corner))]
    return out


def _default_cache() -> str:
    return os.environ.get("IONOFIELD_CACHE", str(Path("~/.cache/ionofield/iri").expanduser()))


def _load_cube(path: Path) -> DayCube | None:
    try:
        with np.load(path) as z:
            return DayCube(z["log10_ne"], z["nmf2_m3"], z["hmf2_km"], float(z["f107"]))
    except (OSError, KeyError, ValueError):
        return None  # a damaged cache entry is recomputed, never trusted


def _save_cube(path: Path, cube: DayCube) -> None:
    from common.io import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                log10_ne=cube.log10_ne,
                nmf2_m3=cube.nmf2_m3,
                hmf2_km=cube.hmf2_km,
                f107=cube.f107,
            )
