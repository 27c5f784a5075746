"""IONEX 1.0 global TEC maps: reader (plain, gzip ``.gz`` or Unix-compressed ``.Z``, told
apart by their magic bytes, so any file name works; 1- or 2-hourly maps; epochs with
fractional seconds) and writer.

Format facts (Schaer et al., IONEX 1.0): header labels in columns 61-80; each map is a block
``START OF TEC MAP`` / ``EPOCH OF CURRENT MAP`` / one ``LAT/LON1/LON2/DLON/H`` record per
latitude row followed by the row values (I5, 16 per line); value = integer x 10**EXPONENT
TECU (EXPONENT usually -1, may be redefined inside a map); 9999 = missing. Global maps have
latitudes 87.5 .. -87.5 (71 rows) and longitudes -180 .. 180 (73 columns; the end columns
are the same meridian and are kept, so every array here has 73 columns).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ionofield.errors import DataFormatError

MISSING = 9999
_LABEL = slice(60, 80)


@dataclass(frozen=True)
class IonexMaps:
    """TEC maps of one IONEX file.

    Attributes
    ----------
        epochs: map times (UTC, naive datetimes), length T.
        lat_deg: row latitudes, shape (n_lat,), north to south as in the file.
        lon_deg: column longitudes, shape (n_lon,), both end columns included.
        tec_tecu: vertical TEC in TECU, shape (T, n_lat, n_lon); NaN where the file has 9999.
        rms_tecu: RMS maps in TECU with the same shape, or None when the file has none.
        height_km: single-layer height of the maps.
    """

    epochs: list[dt.datetime]
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    tec_tecu: np.ndarray
    rms_tecu: np.ndarray | None
    height_km: float


def read_text(path: str | Path) -> str:
    """The text of a plain or Unix-compressed (``.Z``, LZW) file."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "file not found")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x9d":
        import unlzw3

        try:
            raw = unlzw3.unlzw(raw)
        except Exception as exc:  # unlzw3 raises bare ValueErrors/IndexErrors on damage
            raise DataFormatError(path, f"corrupt Unix-compressed data ({exc})") from None
    elif raw[:2] == b"\x1f\x8b":
        import gzip

        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataFormatError(path, f"corrupt gzip data ({exc})") from None
    return raw.decode("ascii", errors="replace")


def _header(lines: list[str], path: Path) -> tuple[dict[str, str], int]:
    info: dict[str, str] = {}
    for i, line in enumerate(lines):
        label = line[_LABEL].strip()
        if label == "END OF HEADER":
            return info, i + 1
        info.setdefault(label, line[:60])
    raise DataFormatError(path, "no 'END OF HEADER' record: not an IONEX file or truncated")


def _axis(text: str, path: Path, what: str) -> np.ndarray:
    try:
        a, b, step = (float(v) for v in text.split()[:3])
    except ValueError:
        raise DataFormatError(path, f"bad {what} header record '{text.strip()}'") from None
    n = int(round((b - a) / step)) + 1
    return a + step * np.arange(n)


def _epoch(line: str, path: Path) -> dt.datetime:
    try:
        y, mo, d, h, mi, s = (int(float(v)) for v in line[:60].split()[:6])
        return dt.datetime(y, mo, d, h, mi, s)
    except ValueError:
        raise DataFormatError(path, f"bad epoch record '{line.strip()}'") from None


def _read_map(lines: list[str], i: int, grid: tuple, exponent: int, path: Path) -> tuple:
    """Parse one map starting after its START record; returns (epoch, values, next index)."""
    lats, lons = grid
    out = np.full((lats.size, lons.size), np.nan)
    epoch, row, filled = None, -1, 0
    values: list[int] = []
    while i < len(lines):
        line = lines[i]
        label = line[_LABEL].strip()
        i += 1
        if label == "EPOCH OF CURRENT MAP":
            epoch = _epoch(line, path)
        elif label == "EXPONENT":
            exponent = _exponent(line[:60], path)
        elif label == "LAT/LON1/LON2/DLON/H":
            row, values = _row_index(line, lats, path), []
        elif label.startswith("END OF") and label.endswith("MAP"):
            if epoch is None or filled != lats.size:
                raise DataFormatError(
                    path, f"incomplete map ending at line {i} ({filled}/{lats.size} rows)"
                )
            return epoch, out, i, exponent
        elif row >= 0:
            values += _ints(line, path, i)
            if len(values) >= lons.size:
                _store_row(out, row, values[: lons.size], exponent)
                row, filled = -1, filled + 1
    raise DataFormatError(path, "file ends inside a map (truncated)")


def _row_index(line: str, lats: np.ndarray, path: Path) -> int:
    try:
        lat = float(line[2:8])
    except ValueError:
        raise DataFormatError(path, f"bad latitude record '{line.strip()}'") from None
    idx = int(np.argmin(np.abs(lats - lat)))
    if abs(lats[idx] - lat) > 1e-6:
        raise DataFormatError(path, f"latitude {lat} is not on the header grid")
    return idx


def _ints(line: str, path: Path, lineno: int) -> list[int]:
    text = line.rstrip("\n")
    try:
        return [int(text[k : k + 5]) for k in range(0, len(text.rstrip()), 5)]
    except ValueError:
        raise DataFormatError(path, f"non-integer map value on line {lineno}") from None


def _store_row(out: np.ndarray, row: int, values: list[int], exponent: int) -> None:
    arr = np.asarray(values, dtype=float)
    arr[arr == MISSING] = np.nan
    out[row] = arr * 10.0**exponent


def read_ionex(path: str | Path) -> IonexMaps:
    """Read every TEC (and RMS) map of an IONEX file; errors name the file and the problem."""
    path = Path(path)
    lines = read_text(path).splitlines()
    info, i = _header(lines, path)
    for key in ("LAT1 / LAT2 / DLAT", "LON1 / LON2 / DLON", "EXPONENT"):
        if key not in info:
            raise DataFormatError(path, f"header lacks '{key}'")
    grid = (
        _axis(info["LAT1 / LAT2 / DLAT"], path, "LAT"),
        _axis(info["LON1 / LON2 / DLON"], path, "LON"),
    )
    exponent = _exponent(info["EXPONENT"], path)
    height = float(info.get("HGT1 / HGT2 / DHGT", "450").split()[0])
    maps: dict[str, list] = {"TEC": [], "RMS": []}
    epochs: list[dt.datetime] = []
    ended = False
    while i < len(lines):
        label = lines[i][_LABEL].strip()
        i += 1
        if label in ("START OF TEC MAP", "START OF RMS MAP"):
            epoch, values, i, exponent = _read_map(lines, i, grid, exponent, path)
            kind = label.split()[2]
            maps[kind].append(values)
            if kind == "TEC":
                epochs.append(epoch)
        elif label == "END OF FILE":
            ended = True
            break
    _check_complete(path, info, maps, ended)
    rms = np.stack(maps["RMS"]) if len(maps["RMS"]) == len(maps["TEC"]) else None
    tec = np.stack(maps["TEC"])
    for kind, arr in (("TEC", tec), ("RMS", rms)):
        bad = np.argwhere(arr < 0) if arr is not None else np.zeros((0, 3))
        if bad.size:
            k, r, c = bad[0]
            raise DataFormatError(
                path, f"negative {kind} value {arr[k, r, c]:g} TECU in the map of "
                f"{epochs[k]:%Y-%m-%d %H:%M} (lat {grid[0][r]:g}, lon {grid[1][c]:g}); "
                f"{len(bad)} such cells",
            )  # fmt: skip
    return IonexMaps(epochs, grid[0], grid[1], tec, rms, height)


def _exponent(text: str, path: Path) -> int:
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        raise DataFormatError(path, f"bad EXPONENT record '{text.strip()}'") from None


def _check_complete(path: Path, info: dict[str, str], maps: dict[str, list], ended: bool) -> None:
    n_tec = len(maps["TEC"])
    if not ended:
        raise DataFormatError(path, f"truncated: no 'END OF FILE' record after {n_tec} TEC maps")
    expected = info.get("# OF MAPS IN FILE")
    if expected is not None and int(expected.split()[0]) != n_tec:
        raise DataFormatError(
            path, f"header announces {int(expected.split()[0])} maps, found {n_tec}"
        )
    if n_tec == 0:
        raise DataFormatError(path, "no TEC maps")


def _epoch_text(e: dt.datetime) -> str:
    return "".join(f"{v:6d}" for v in (e.year, e.month, e.day, e.hour, e.minute, e.second))


def _header_line(text: str, label: str) -> str:
    return f"{text:<60.60}{label:<20.20}"


def _map_lines(
    kind: str, k: int, epoch: dt.datetime, grid: tuple, values: np.ndarray, exponent: int, h: float
) -> list[str]:
    lats, lons = grid
    out = [
        _header_line(f"{k:6d}", f"START OF {kind} MAP"),
        _header_line(_epoch_text(epoch), "EPOCH OF CURRENT MAP"),
    ]
    scaled = np.where(np.isfinite(values), np.rint(values / 10.0**exponent), MISSING).astype(int)
    scaled = np.clip(scaled, -9999, 99999)
    for r, lat in enumerate(lats):
        rec = f"  {lat:6.1f}{lons[0]:6.1f}{lons[-1]:6.1f}{lons[1] - lons[0]:6.1f}{h:6.1f}"
        out.append(_header_line(rec, "LAT/LON1/LON2/DLON/H"))
        row = scaled[r]
        for s in range(0, row.size, 16):
            out.append("".join(f"{v:5d}" for v in row[s : s + 16]))
    out.append(_header_line(f"{k:6d}", f"END OF {kind} MAP"))
    return out


def write_ionex(path: str | Path, maps: IonexMaps, comment: str = "", exponent: int = -1) -> None:
    """Write ``maps`` as IONEX 1.0 (atomically); the last column must equal the first."""
    from common.io import atomic_write

    lats, lons, t = maps.lat_deg, maps.lon_deg, maps.epochs
    step = (t[1] - t[0]).total_seconds() if len(t) > 1 else 0
    hdr = [
        _header_line("     1.0            IONOSPHERE MAPS     GNSS", "IONEX VERSION / TYPE"),
        _header_line(
            "ionofield           ionofield           "
            + dt.datetime.now(dt.timezone.utc).strftime("%d-%b-%y %H:%M").upper(),
            "PGM / RUN BY / DATE",
        ),
    ]
    for chunk in [comment[i : i + 60] for i in range(0, len(comment), 60)]:
        hdr.append(_header_line(chunk, "COMMENT"))
    hdr += [
        _header_line(_epoch_text(t[0]), "EPOCH OF FIRST MAP"),
        _header_line(_epoch_text(t[-1]), "EPOCH OF LAST MAP"),
        _header_line(f"{int(step):6d}", "INTERVAL"),
        _header_line(f"{len(t):6d}", "# OF MAPS IN FILE"),
        _header_line("  NONE", "MAPPING FUNCTION"),
        _header_line("     0.0", "ELEVATION CUTOFF"),
        _header_line("  6371.0", "BASE RADIUS"),
        _header_line("     2", "MAP DIMENSION"),
        _header_line(f"  {maps.height_km:6.1f}{maps.height_km:6.1f}   0.0", "HGT1 / HGT2 / DHGT"),
        _header_line(
            f"  {lats[0]:6.1f}{lats[-1]:6.1f}{lats[1] - lats[0]:6.1f}", "LAT1 / LAT2 / DLAT"
        ),
        _header_line(
            f"  {lons[0]:6.1f}{lons[-1]:6.1f}{lons[1] - lons[0]:6.1f}", "LON1 / LON2 / DLON"
        ),
        _header_line(f"{exponent:6d}", "EXPONENT"),
        _header_line("", "END OF HEADER"),
    ]
    body: list[str] = []
    for kind, stack in (("TEC", maps.tec_tecu), ("RMS", maps.rms_tecu)):
        if stack is None:
            continue
        for k, (epoch, values) in enumerate(zip(t, stack), start=1):
            body += _map_lines(kind, k, epoch, (lats, lons), values, exponent, maps.height_km)
    with atomic_write(path) as fh:
        fh.write("\n".join(hdr + body + [_header_line("", "END OF FILE")]) + "\n")
