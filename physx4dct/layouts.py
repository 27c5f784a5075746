"""Scan pickles in the field's layouts: X²-Gaussian, NAF / SAX-NeRF, STNF4D, and our native one.

All four share the TIGRE geometry keys in mm (`DSD, DSO, nDetector, dDetector, nVoxel, dVoxel,
offOrigin, offDetector`) and hold `image` (ground truth) and `train` / `val` split dicts. They
differ in what a split holds and in units, exactly as their readers use them:

* `x2` (X²-Gaussian `readNAFInfo`): `angles` (rad); `projections` (N, H, W) line integrals
  with path lengths in **metres** (the reader multiplies them by 2 / max(sVoxel in m));
  `time` = fraction of the scan in [0, 1]; `phase` = integer bin 0..P-1; `image`
  (P, nx, ny, nz). Ground-truth volume k is scored at time (0.15 + 0.3 k) / 60 (a 3 s cycle
  in a 60 s scan, the middle of bin k), hard-coded in X²'s `train.py`.
* `naf` (NAF `dataset/tigre.py`, `generateData.py`): a static scan, `angles` and
  `projections` (metres) only, `image` (nx, ny, nz); also needs `accuracy, mode, filter`.
* `stnf` (STNF4D `generate_med_data.py`): like `x2` without `time`; `phase` is 1-based
  (1..P) and views are in acquisition order.
* `native` (physx4dct before issue 27): projections in scene units (`projection_unit`),
  `time` in seconds, `phase` a float in [0, 1).

Inside physx4dct a `Scan` always holds projections in scene units (lengths x 2 / max(sVoxel
in mm)), times in seconds and phases as fractions of a cycle, bin k centred on k / P. Our
`x2`, `naf` and `stnf` files carry the NAF auxiliary keys and a few extra keys (`scanTime`,
`imageTime`, `phaseFraction` ...) that the field's readers ignore and that make our own
round trip lossless.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from common.errors import UserError
from physx4dct.geometry import ConeGeometry
from physx4dct.scan import Scan, Views, phase_bins

__all__ = ["LAYOUTS", "detect_layout", "scan_from_dict", "scan_to_dict", "x2_volume_times"]

LAYOUTS = ("native", "x2", "naf", "stnf")
_MARK = "physx4dct_layout"
_X2_CYCLE_S, _X2_SCAN_S = 3.0, 60.0


def x2_volume_times(n_phases: int) -> np.ndarray:
    """X²-Gaussian's ground-truth times as fractions of the scan: (0.15 + 0.3 k) / 60."""
    step = _X2_CYCLE_S / n_phases
    return (step / 2 + step * np.arange(n_phases)) / _X2_SCAN_S


def detect_layout(data: dict) -> str:
    """Name of the layout of a loaded pickle dict (see the module docstring)."""
    mark = data.get(_MARK)
    if mark in LAYOUTS:
        return str(mark)
    if "projection_unit" in data:
        return "native"
    split = data.get("train")
    if isinstance(split, dict) and "time" in split:
        return "x2"
    if isinstance(split, dict) and "phase" in split:
        return "stnf"
    return "naf"


def _metres_to_scene(geo: ConeGeometry) -> float:
    """Factor from line integrals with lengths in metres to lengths in scene units."""
    return geo.scale * 1000.0


def _volumes(data: dict, geo: ConeGeometry) -> np.ndarray | None:
    vols = data.get("image")
    if vols is None:
        return None
    vols = np.asarray(vols, dtype=np.float32)
    vols = vols[None] if vols.ndim == 3 else vols
    if vols.ndim != 4 or vols.shape[1:] != tuple(geo.nVoxel):
        raise ValueError(f"image {vols.shape} does not match nVoxel {list(geo.nVoxel)}")
    if not np.all(np.isfinite(vols)):
        raise ValueError("image holds NaN or Inf")
    return vols


def _projections(split: dict, geo: ConeGeometry, factor: float, n: int | None) -> np.ndarray:
    proj = np.asarray(split["projections"], dtype=np.float64)
    if proj.ndim != 3 or proj.shape[1:] != tuple(geo.nDetector):
        raise ValueError(f"projections {proj.shape} do not match nDetector {list(geo.nDetector)}")
    if n is not None:  # X² and NAF read the first numTrain / numVal views
        if n > proj.shape[0]:
            raise ValueError(f"numTrain/numVal is {n} but only {proj.shape[0]} projections")
        proj = proj[:n]
    if not np.all(np.isfinite(proj)):
        raise ValueError("projections hold NaN or Inf")
    if proj.size and not np.any(proj):
        raise ValueError("projections are all zero: an empty scan")
    return (proj * factor).astype(np.float32)


def _angles(split: dict, n: int) -> np.ndarray:
    ang = np.asarray(split["angles"], dtype=np.float64).reshape(-1)[:n]
    if ang.shape[0] != n or not np.all(np.isfinite(ang)):
        raise ValueError(f"{n} projections but {ang.shape[0]} finite angles")
    return ang


def _int_phases(split: dict, n: int, n_phases: int, first: int) -> np.ndarray:
    raw = np.asarray(split["phase"]).reshape(-1)[:n]
    ph = np.rint(raw.astype(np.float64)).astype(int)
    if ph.shape[0] != n or np.any(np.abs(raw - ph) > 1e-6):
        raise ValueError("phase must hold one integer bin per projection")
    if ph.min(initial=first) < first or ph.max(initial=first) > first + n_phases - 1:
        raise ValueError(f"phase bins must lie in {first}..{first + n_phases - 1}")
    return ph - first


def _split_views(data: dict, key: str, geo: ConeGeometry, layout: str, ctx: dict) -> Views | None:
    split = data.get(key)
    if not isinstance(split, dict) or "projections" not in split:
        return None
    count = data.get("numTrain" if key == "train" else "numVal")
    if layout == "native":
        unit = data.get("projection_unit", "scene")
        factor = geo.scale if unit == "mm" else 1.0
        count = None
    else:
        factor = _metres_to_scene(geo)
        count = None if count is None else int(count)
    proj = _projections(split, geo, factor, count)
    n = proj.shape[0]
    if n == 0:
        return None
    ang = _angles(split, n)
    scan_s, n_ph = ctx["scan_s"], ctx["n_phases"]
    order_t = (np.arange(n) + 0.5) / n * scan_s  # acquisition order when no time is stored
    if layout == "native":
        t = split.get("time", split.get("times"))
        t = order_t if t is None else np.asarray(t, float).reshape(-1)[:n]
        ph = split.get("phase")
        ph = np.mod(t / scan_s, 1.0) if ph is None else np.asarray(ph, float).reshape(-1)[:n]
    elif layout == "x2":
        t = np.asarray(split["time"], float).reshape(-1)[:n]
        if t.shape[0] != n or t.min() < -1e-9 or t.max() > 1 + 1e-9:
            raise ValueError(
                f"'time' must be the fraction of the scan in [0, 1] per view "
                f"(got {t.min():.3g}..{t.max():.3g}; seconds?)"
            )
        t = t * scan_s
        ph = _int_phases(split, n, n_ph, 0) / n_ph
    elif layout == "stnf":
        t = order_t
        first = 0 if np.min(split["phase"]) == 0 else 1
        ph = _int_phases(split, n, n_ph, first) / n_ph
    else:  # naf: static
        t, ph = order_t, np.zeros(n)
    if layout != "native":  # our own files carry the exact times and phases
        if split.get("timeSeconds") is not None:
            t = np.asarray(split["timeSeconds"], float).reshape(-1)[:n]
        if split.get("phaseFraction") is not None:
            ph = np.asarray(split["phaseFraction"], float).reshape(-1)[:n]
    if t.shape[0] != n or ph.shape[0] != n or not (np.isfinite(t).all() and np.isfinite(ph).all()):
        raise ValueError(f"'{key}' needs one finite time and phase per projection")
    return Views(ang, proj, t, ph)


def _bin_time(train: Views, k: int, n_ph: int) -> float:
    """Acquisition time (s) of the middle (in time) of the views of bin k (or nearest phase)."""
    idx = np.nonzero(phase_bins(train.phase, n_ph) == k)[0]
    if idx.size == 0:  # an empty bin: the views nearest in phase
        dist = np.abs(np.mod(train.phase - k / n_ph + 0.5, 1.0) - 0.5)
        idx = np.nonzero(dist <= dist.min() + 1e-12)[0]
    return float(train.time_s[idx[len(idx) // 2]])


def _volume_times(
    data: dict, layout: str, vols: np.ndarray | None, train: Views, scan_s: float
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(time_s, phase) of the ground-truth volumes, or (None, None) for a static scan."""
    if vols is None:
        return None, None
    if layout != "native" and vols.shape[0] == 1 and data.get("imageTime") is None:
        return None, None
    n_ph = vols.shape[0]
    if layout == "native":
        t, ph = data.get("image_time"), data.get("image_phase")
        if n_ph > 1 and t is None:
            raise ValueError(f"{n_ph} ground-truth volumes but no 'image_time'")
        return (
            None if t is None else np.asarray(t, float),
            None if ph is None else np.asarray(ph, float),
        )
    phases = np.arange(n_ph) / n_ph
    if data.get("imageTime") is not None:
        times = np.asarray(data["imageTime"], float) * scan_s
    elif layout == "x2":
        times = x2_volume_times(n_ph) * scan_s
    else:  # stnf: the time of the middle view of each bin (nearest phase if a bin is empty)
        times = np.array([_bin_time(train, k, n_ph) for k in range(n_ph)])
    if data.get("imagePhase") is not None:
        phases = np.asarray(data["imagePhase"], float)
    return times, phases


def scan_from_dict(data: Any, layout: str = "auto", source: str = "<scan>") -> Scan:
    """A `Scan` from a loaded pickle dict in `layout` (auto-detected by default).

    Raises
    ------
    UserError
        Missing keys, inconsistent shapes, non-finite values or units that do not fit the layout.
    """
    required = ("DSD", "DSO", "nDetector", "dDetector", "nVoxel", "dVoxel", "train")
    if not isinstance(data, dict) or any(k not in data for k in required):
        missing = [k for k in required if not isinstance(data, dict) or k not in data]
        raise UserError(f"not a NAF/X²-Gaussian scan (missing {missing})", path=source)
    if layout == "auto":
        layout = detect_layout(data)
    if layout not in LAYOUTS:
        raise UserError(f"unknown layout {layout!r} (one of {', '.join(LAYOUTS)})", path=source)
    try:
        geo = ConeGeometry.from_dict(
            {"offOrigin": [0, 0, 0], "offDetector": [0, 0], **data}  # NAF keys may be absent
        )
        geo.validate()
        vols = _volumes(data, geo)
        scan_s = float(data.get("scanTime", _X2_SCAN_S))
        if not (math.isfinite(scan_s) and scan_s > 0):
            raise ValueError(f"scanTime must be > 0, got {scan_s}")
        n_ph = vols.shape[0] if vols is not None and vols.shape[0] > 1 else 10
        ctx = {"scan_s": scan_s, "n_phases": n_ph}
        train = _split_views(data, "train", geo, layout, ctx)
        if train is None:
            raise ValueError("'train' holds no projections")
        val = _split_views(data, "val", geo, layout, ctx)
        vt, vph = _volume_times(data, layout, vols, train, scan_s)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise UserError(f"malformed {layout} scan ({exc})", path=source) from None
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    return Scan(
        geo=geo,
        train=train,
        val=val,
        scan_s=scan_s,
        volumes=vols,
        volume_time_s=vt,
        volume_phase=vph,
        breathing=data.get("breathing"),
        meta={**meta, "layout": layout},
    )


def _naf_keys(scan: Scan) -> dict[str, Any]:
    """Geometry and the auxiliary keys NAF's and X²'s readers index (degrees for angles)."""
    ang = scan.train.angles
    out: dict[str, Any] = {k: v for k, v in scan.geo.to_dict().items() if k != "mode"}
    out.update(
        {
            "accuracy": 0.5,
            "mode": "cone",
            "filter": None,
            "startAngle": float(np.degrees(ang[0])) if len(ang) else 0.0,
            "totalAngle": float(np.degrees(np.ptp(ang))) if len(ang) else 0.0,
            "randomAngle": False,
            "convert": False,
            "rescale_slope": 1.0,
            "rescale_intercept": 0.0,
            "normalize": False,
            "noise": 0,
            "numTrain": int(len(ang)),
            "numVal": int(len(scan.val.angles)) if scan.val is not None else 0,
        }
    )
    return out


def _empty_views(scan: Scan) -> Views:
    h, w = scan.geo.nDetector
    return Views(np.zeros(0), np.zeros((0, h, w), np.float32), np.zeros(0), np.zeros(0))


def _split_dict(v: Views, scan: Scan, layout: str, n_phases: int) -> dict[str, Any]:
    if layout == "native":
        return v.to_dict()
    proj = (v.projections.astype(np.float64) / _metres_to_scene(scan.geo)).astype(np.float32)
    out: dict[str, Any] = {"angles": np.asarray(v.angles, np.float64), "projections": proj}
    if layout == "naf":
        return out
    bins = phase_bins(v.phase, n_phases).astype(np.int64)
    out["phase"] = bins + (1 if layout == "stnf" else 0)
    if layout == "x2":
        out["time"] = np.asarray(v.time_s, np.float64) / scan.scan_s
    out["phaseFraction"] = np.asarray(v.phase, np.float64)
    out["timeSeconds"] = np.asarray(v.time_s, np.float64)
    return out


def scan_to_dict(scan: Scan, layout: str = "x2") -> dict[str, Any]:
    """The pickle dict of `scan` in `layout` (the field's readers load `x2`, `naf`, `stnf`).

    Raises
    ------
    UserError
        `naf` asked for a 4D scan (the NAF layout holds one static volume).
    """
    if layout not in LAYOUTS:
        raise UserError(f"unknown layout {layout!r} (one of {', '.join(LAYOUTS)})")
    vols = scan.volumes
    n_ph = vols.shape[0] if vols is not None and vols.shape[0] > 1 else 10
    val = scan.val if scan.val is not None else _empty_views(scan)
    if layout == "native":
        data: dict[str, Any] = scan.geo.to_dict()
        data.update(
            {
                "numTrain": int(len(scan.train.angles)),
                "numVal": int(len(val.angles)),
                "scanTime": float(scan.scan_s),
                "projection_unit": "scene",
                "train": scan.train.to_dict(),
                "val": scan.val.to_dict() if scan.val is not None else None,
                "image": vols,
                "image_time": scan.volume_time_s,
                "image_phase": scan.volume_phase,
            }
        )
    else:
        if layout == "naf" and vols is not None and np.any(vols != vols[:1]):
            raise UserError("the NAF layout holds one static volume; write a 4D scan as x2")
        data = _naf_keys(scan)
        data["train"] = _split_dict(scan.train, scan, layout, n_ph)
        data["val"] = _split_dict(val, scan, layout, n_ph)
        data["image"] = None if vols is None else (vols[0] if layout == "naf" else vols)
        data["scanTime"] = float(scan.scan_s)
        if scan.volume_time_s is not None:
            data["imageTime"] = np.asarray(scan.volume_time_s, np.float64) / scan.scan_s
        if scan.volume_phase is not None:
            data["imagePhase"] = np.asarray(scan.volume_phase, np.float64)
    data["breathing"] = scan.breathing
    data["meta"] = {k: v for k, v in scan.meta.items() if k != "layout"}
    data[_MARK] = layout
    return data
