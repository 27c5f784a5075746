"""Scenario generator: a 'truth' ionosphere, FY-3D-like sampling, noise and IONEX TEC maps.

Truth (Chapman-consistent): the IRI profile plus the change of its F2 layer, modelled as a
Chapman layer (scale H) whose peak density is scaled by (1 + a) and lifted by dh:

    Ne = Ne_IRI + NmF2 [(1 + a) C(h; hmF2 + dh, H) - C(h; hmF2, H)],  C peak-normalised,

so the added TEC is exactly a NmF2 H sqrt(2 pi e). ``a`` sums quiet day-to-day variability
(low-order global patterns), a Kp-driven storm (positive phase at dayside mid-latitudes,
negative phase at high latitudes, lagged) and an equatorward travelling disturbance; ``dh``
is a storm-time uplift. Kp is the real 3-hourly record. Ne is floored at 0.1 Ne_IRI.

Sampling: a sun-synchronous circular orbit (836 km, i = 98.75 deg, ascending node at 14 LT)
gives in-situ samples near 14/02 LT; radio-occultation profiles at random places and times
cover ~100-800 km. TEC maps: hourly, on the 71 x 73 IONEX grid, integrated from the truth.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ionofield import swx
from ionofield.config import IonofieldConfig, SimConfig
from ionofield.ionex import IonexMaps, write_ionex
from ionofield.iri import IRIBackground
from ionofield.tec import chapman_ne, integrate_tec_tecu, local_time_h, ut_hours

IONEX_LAT = np.arange(87.5, -87.6, -2.5)
IONEX_LON = np.arange(-180.0, 180.1, 5.0)
KM_PER_DEG = 111.2


def start_time_s(sim: SimConfig) -> float:
    """UNIX time [s] of the scenario start (00 UT of ``sim.start``)."""
    try:
        day = dt.date.fromisoformat(sim.start)
    except ValueError:
        from ionofield.errors import IonofieldError

        raise IonofieldError(f"sim.start '{sim.start}' is not an ISO date (YYYY-MM-DD)") from None
    return (dt.datetime(day.year, day.month, day.day) - swx.EPOCH).total_seconds()


class StormDriver:
    """Storm index from real Kp: S = EWMA_tau(max(Kp - 3, 0) / 5), hourly, clipped to [0, 1.2]."""

    def __init__(self, t0_s: float, t1_s: float, tau_h: float) -> None:
        hours = np.arange(np.floor(t0_s / 3600) - 48, np.ceil(t1_s / 3600) + 2)
        drive = np.maximum(swx.kp_at(hours * 3600.0) - 3.0, 0.0) / 5.0
        alpha, s, out = 1.0 - np.exp(-1.0 / tau_h), 0.0, np.empty_like(drive)
        for i, d in enumerate(drive):
            s += alpha * (d - s)
            out[i] = s
        self.hours, self.value = hours, np.clip(out, 0.0, 1.2)

    def __call__(self, time_s: np.ndarray) -> np.ndarray:
        """S at UNIX times [s]."""
        return np.interp(np.asarray(time_s) / 3600.0, self.hours, self.value)


class Truth:
    """The perturbed ionosphere log10 Ne(lat, lon, alt, t) of a scenario."""

    def __init__(self, background: IRIBackground, sim: SimConfig, t0_s: float, t1_s: float) -> None:
        self.bg, self.sim = background, sim
        self.fast, self.slow = StormDriver(t0_s, t1_s, 3.0), StormDriver(t0_s, t1_s, 8.0)
        rng = np.random.default_rng(sim.seed + 1)
        self.modes = [
            (m, rng.uniform(18.0, 40.0), rng.uniform(0, 2 * np.pi), rng.normal())
            for m in (0, 1, 2, 1)
        ]

    def peak_change(
        self, lat: np.ndarray, lon: np.ndarray, time_s: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(a, dh_km): fractional NmF2 change and hmF2 shift at (lat, lon, t)."""
        sim, phi = self.sim, np.radians(lat)
        t_h = np.asarray(time_s) / 3600.0
        shapes = (np.sin(phi), np.cos(phi) ** 2, np.sin(2 * phi), np.ones_like(phi))
        quiet = sum(
            c * p * np.cos(m * np.radians(lon) + 2 * np.pi * t_h / per + ph)
            for (m, per, ph, c), p in zip(self.modes, shapes)
        )
        s_fast, s_slow = self.fast(time_s), self.slow(time_s)
        lt = local_time_h(ut_hours(time_s), lon)
        day = 0.5 * (1.0 + np.cos(2 * np.pi * (lt - 14.0) / 24.0))
        alat = np.abs(lat)
        positive = sim.storm_positive * s_fast * np.exp(-(((alat - 35.0) / 15.0) ** 2)) * day
        negative = -sim.storm_negative * s_slow / (1.0 + np.exp(-(alat - 50.0) / 7.0))
        dist_km = (90.0 - alat) * KM_PER_DEG
        tid = (
            sim.tid_amplitude
            * (0.4 + s_fast)
            * np.exp(-(((alat - 45.0) / 20.0) ** 2))
            * np.cos(2 * np.pi * (dist_km / sim.tid_wavelength_km - t_h / sim.tid_period_h))
        )
        a = 0.5 * sim.variability * quiet + positive + negative + tid
        dh = sim.hm_uplift_km * s_fast * (0.5 + 0.5 * day) + 10.0 * quiet
        return np.clip(a, -0.8, 3.0), dh

    def log10_ne(
        self, lat: np.ndarray, lon: np.ndarray, alt_km: np.ndarray, time_s: np.ndarray
    ) -> np.ndarray:
        """Truth log10 Ne [m^-3] at points (1-D arrays)."""
        ne_iri = 10.0 ** self.bg.log10_ne(lat, lon, alt_km, time_s)
        return self._perturb(ne_iri, alt_km, *self._peak(lat, lon, time_s))

    def columns(
        self, lat: np.ndarray, lon: np.ndarray, alt_km: np.ndarray, time_s: float
    ) -> np.ndarray:
        """Truth log10 Ne (M, K) of M columns (lat, lon) on altitudes (K,) at one time.

        Same values as :meth:`log10_ne`; the F2 peak and its change are computed once per
        column, not once per point.
        """
        m, k = lat.size, alt_km.size
        t_pts = np.full(m * k, float(time_s))
        log_iri = self.bg.log10_ne(np.repeat(lat, k), np.repeat(lon, k), np.tile(alt_km, m), t_pts)
        peak = [v[:, None] for v in self._peak(lat, lon, np.full(m, float(time_s)))]
        return self._perturb(10.0 ** log_iri.reshape(m, k), alt_km[None, :], *peak)

    def _peak(self, lat: np.ndarray, lon: np.ndarray, time_s: np.ndarray) -> tuple[np.ndarray, ...]:
        """(NmF2, hmF2, a, dh) of IRI and of the change at (lat, lon, t)."""
        return (*self.bg.f2_peak(lat, lon, time_s), *self.peak_change(lat, lon, time_s))

    def _perturb(  # noqa: PLR0913 - the Chapman change needs each peak quantity
        self,
        ne_iri: np.ndarray,
        alt_km: np.ndarray,
        nm: np.ndarray,
        hm: np.ndarray,
        a: np.ndarray,
        dh: np.ndarray,
    ) -> np.ndarray:
        """log10 of IRI + the Chapman change (arrays broadcast), floored at 0.1 Ne_IRI."""
        h = self.sim.chapman_scale_km
        change = nm * (
            (1.0 + a) * chapman_ne(alt_km, 1.0, hm + dh, h) - chapman_ne(alt_km, 1.0, hm, h)
        )
        return np.log10(np.maximum(ne_iri + change, 0.1 * ne_iri))


def orbit_track(time_s: np.ndarray, sim: SimConfig) -> tuple[np.ndarray, np.ndarray]:
    """Sub-satellite (lat, lon) [deg] of the sun-synchronous orbit at UNIX times [s].

    Argument of latitude u = 2 pi t / T; lat = asin(sin i sin u); the node keeps its local
    time, so LT = node_LT + atan2(cos i sin u, cos u) / 15 deg and lon = 15 (LT - UT).
    """
    inc = np.radians(sim.inclination_deg)
    u = 2 * np.pi * np.asarray(time_s) / (sim.period_min * 60.0)
    lat = np.degrees(np.arcsin(np.sin(inc) * np.sin(u)))
    dra_h = np.degrees(np.arctan2(np.cos(inc) * np.sin(u), np.cos(u))) / 15.0
    lon = 15.0 * (sim.node_lt_h + dra_h - ut_hours(time_s))
    return lat, np.mod(lon + 180.0, 360.0) - 180.0


def sample_observations(
    truth: Truth, sim: SimConfig, t0_s: float, rng: np.random.Generator
) -> dict:
    """In-situ and RO observations as columns (lat, lon, alt_km, time_s, log10_ne, ...)."""
    span = sim.days * 86400.0
    t_in = t0_s + np.arange(0.0, span, sim.insitu_cadence_s)
    lat_in, lon_in = orbit_track(t_in, sim)
    n_ro = sim.ro_per_day * sim.days
    alts = np.arange(sim.ro_alt_min_km, sim.ro_alt_max_km + 0.1, sim.ro_dalt_km)
    t_ro = np.repeat(t0_s + np.sort(rng.uniform(0.0, span, n_ro)), alts.size)
    lat_ro = np.repeat(np.degrees(np.arcsin(rng.uniform(-1, 1, n_ro))), alts.size)
    lon_ro = np.repeat(rng.uniform(-180, 180, n_ro), alts.size)
    cols = {
        "lat": np.concatenate([lat_in, lat_ro]),
        "lon": np.concatenate([lon_in, lon_ro]),
        "alt_km": np.concatenate([np.full(t_in.size, sim.orbit_alt_km), np.tile(alts, n_ro)]),
        "time_s": np.concatenate([t_in, t_ro]),
        "source": np.concatenate([np.zeros(t_in.size, np.int8), np.ones(t_ro.size, np.int8)]),
        "profile_id": np.concatenate(
            [np.full(t_in.size, -1), np.repeat(np.arange(n_ro), alts.size)]
        ).astype(np.int32),
    }
    sigma = np.where(cols["source"] == 0, sim.noise_insitu, sim.noise_ro)
    true = truth.log10_ne(cols["lat"], cols["lon"], cols["alt_km"], cols["time_s"])
    cols.update(
        log10_ne_true=true, sigma=sigma, log10_ne=true + sigma * rng.standard_normal(true.size)
    )
    return cols


def tec_maps(columns: Callable, epochs_s: np.ndarray, alt_km: np.ndarray) -> np.ndarray:
    """VTEC [TECU] (T, 71, 73) on the IONEX grid of a field given by columns:
    ``columns(lat (M,), lon (M,), alt_km (K,), t) -> log10 Ne (M, K)``, plus the empirical
    plasmasphere above ``alt_km[-1]`` up to GPS altitude (as GPS TEC counts it).
    """
    from ionofield.plasmasphere import pec_maps

    lon2, lat2 = np.meshgrid(IONEX_LON, IONEX_LAT)
    out = pec_maps(IONEX_LAT, IONEX_LON, np.asarray(epochs_s, float), float(alt_km[-1]))
    for k, t in enumerate(epochs_s):
        log_ne = columns(lat2.ravel(), lon2.ravel(), alt_km, t)
        out[k] += integrate_tec_tecu(10.0**log_ne, alt_km).reshape(lat2.shape)
    return out


def ionex_name(day: dt.date) -> str:
    """IGS-style short name of a daily file: ionf DDD 0 . YY i."""
    return f"ionf{day.timetuple().tm_yday:03d}0.{day.year % 100:02d}i"


def simulate(cfg: IonofieldConfig, out_dir: str | Path, log: logging.Logger | None = None) -> dict:
    """Write a scenario: observations.h5, tec/*.i (IONEX, one file per day), scenario.json."""
    from ionofield.data import write_observations

    sim, out = cfg.sim, Path(out_dir)
    t0 = start_time_s(sim)
    t1 = t0 + sim.days * 86400.0
    swx.kp_at(np.array([t0 - 48 * 3600.0, t1]))  # clear error if outside the record
    truth = Truth(IRIBackground(cfg.iri), sim, t0, t1)
    obs = sample_observations(truth, sim, t0, np.random.default_rng(sim.seed))
    (out / "tec").mkdir(parents=True, exist_ok=True)
    alt = np.arange(cfg.iri.alt_min_km, cfg.iri.alt_max_km + 0.1, sim.tec_dalt_km)
    files = []
    for d in range(sim.days):
        epochs = t0 + d * 86400.0 + 3600.0 * np.arange(25)
        # the 24:00 map is taken 1 ms before midnight, from this day's IRI cube (hour slot 24):
        # a scenario then needs only its own days' cubes (one pyiri call per day)
        maps = tec_maps(truth.columns, epochs - np.r_[np.zeros(24), 1e-3], alt)
        day = (swx.EPOCH + dt.timedelta(seconds=float(epochs[0]))).date()
        ion = IonexMaps(
            [swx.EPOCH + dt.timedelta(seconds=float(e)) for e in epochs],
            IONEX_LAT,
            IONEX_LON,
            maps,
            None,
            450.0,
        )
        write_ionex(
            out / "tec" / ionex_name(day),
            ion,
            comment=f"ionofield simulate truth VTEC {alt[0]:.0f}-{alt[-1]:.0f} km",
        )
        files.append(ionex_name(day))
        if log:
            log.info("TEC maps of %s written (max %.1f TECU)", day, maps.max())
    hours = np.arange(t0, t1, 3600.0)
    meta = {
        "start": sim.start,
        "days": sim.days,
        "t0_s": t0,
        "tec_files": files,
        "hourly_kp": swx.kp_at(hours).tolist(),
        "storm_index": truth.fast(hours).tolist(),
        "config": _cfg_dict(cfg),
    }
    write_observations(out / "observations.h5", obs, meta)
    from common.io import atomic_write

    with atomic_write(out / "scenario.json") as fh:
        json.dump(meta, fh, indent=1)
    return meta


def _cfg_dict(cfg: IonofieldConfig) -> dict:
    from common.config import to_dict

    return to_dict(cfg)
