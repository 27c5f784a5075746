"""Readers and writers of CCZ4 grid data: our HDF5, AMReX plotfiles, GRChombo (Chombo) HDF5.

Every reader returns a :class:`GridData`: ``vars`` (25, X, Y, Z) float64 in GRChombo variable
order with array axes (x, y, z), spacing ``dx``, the physical coordinate ``origin`` of cell
(0, 0, 0) (cell centres), optional extra fields (e.g. stored Ham/Mom) and attributes.
Problems a user can cause (missing variable, wrong shape, NaN, unreadable file) raise
:class:`DataError`, a ``common.errors.UserError`` whose one line names the file.
Chombo and AMReX store each component in Fortran order (x fastest); we transpose to (x, y, z).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import UserError
from common.io import atomic_path
from nrfix.constraints import VAR_NAMES

FORMAT_TAG = "nrfix-ccz4/1"


class DataError(UserError):
    """A data file cannot be used; the message is '<file>: <problem>'."""

    def __init__(self, path: str | Path, hint: str) -> None:
        super().__init__(hint, path=path)


@dataclass
class GridData:
    """CCZ4 variables on a uniform cell-centred grid.

    vars: (25, X, Y, Z) float64, GRChombo order; dx: spacing; origin: (3,) centre of cell 0;
    extra: other named (X, Y, Z) fields found in the file; attrs: metadata (JSON-able).
    """

    vars: np.ndarray
    dx: float
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)


def validate(grid: GridData, path: str | Path) -> GridData:
    """Check shape, dtype and finiteness; raise :class:`DataError` naming the problem."""
    v = grid.vars
    if v.ndim != 4 or v.shape[0] != len(VAR_NAMES):
        raise DataError(path, f"expected (25, X, Y, Z) CCZ4 variables, got shape {v.shape}")
    if min(v.shape[1:]) < 5:
        raise DataError(path, f"grid {v.shape[1:]} too small: need at least 5 cells per axis")
    bad = [VAR_NAMES[c] for c in range(v.shape[0]) if not np.isfinite(v[c]).all()]
    if bad:
        raise DataError(path, f"non-finite values (NaN/inf) in variable(s) {', '.join(bad)}")
    if not (grid.dx > 0 and np.isfinite(grid.dx)):
        raise DataError(path, f"invalid grid spacing dx={grid.dx}")
    return grid


def _stack_vars(fields: dict[str, np.ndarray], path: str | Path) -> np.ndarray:
    missing = [n for n in VAR_NAMES if n not in fields]
    if missing:
        raise DataError(path, f"missing variable(s) {', '.join(missing)}")
    shapes = {fields[n].shape for n in VAR_NAMES}
    if len(shapes) != 1:
        raise DataError(path, f"variables have different shapes {sorted(shapes)}")
    return np.stack([np.asarray(fields[n], dtype=np.float64) for n in VAR_NAMES])


# --------------------------------------------------------------------------- our HDF5
def write_hdf5(path: str | Path, grid: GridData, provenance: dict[str, Any] | None = None) -> Path:
    """Write ``grid`` to our HDF5 layout atomically.

    Layout: dataset ``vars`` (25, X, Y, Z) float64; attributes ``format``, ``dx``, ``origin``,
    ``variables`` (names), ``axes`` = "x,y,z", ``params`` / ``provenance`` (JSON strings);
    group ``extra`` with further (X, Y, Z) fields.
    """
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("vars", data=grid.vars.astype(np.float64), compression="gzip")
            f.attrs.update({"format": FORMAT_TAG, "dx": float(grid.dx), "axes": "x,y,z"})
            f.attrs["origin"] = np.asarray(grid.origin, dtype=np.float64)
            f.attrs["variables"] = json.dumps(list(VAR_NAMES))
            f.attrs["params"] = json.dumps(grid.attrs, default=_jsonable)
            f.attrs["provenance"] = json.dumps(provenance or {}, default=_jsonable)
            for name, arr in grid.extra.items():
                f.create_dataset(f"extra/{name}", data=arr, compression="gzip")
    return path


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray | np.generic):
        return obj.tolist()
    return str(obj)


def read_hdf5(path: str | Path) -> GridData:
    """Read our HDF5 layout (see :func:`write_hdf5`)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "vars" not in f:
                raise DataError(path, "no 'vars' dataset (not an nrfix HDF5 file)")
            names = json.loads(f.attrs.get("variables", json.dumps(list(VAR_NAMES))))
            data = f["vars"][()]
            if data.ndim != 4 or data.shape[0] != len(names):
                raise DataError(
                    path, f"'vars' has shape {data.shape}, expected ({len(names)}, X, Y, Z)"
                )
            fields = {n: data[i] for i, n in enumerate(names)}
            vars25 = _stack_vars(fields, path)
            extra = {k: v[()] for k, v in f.get("extra", {}).items()}
            attrs = json.loads(f.attrs.get("params", "{}"))
            grid = GridData(
                vars25,
                float(f.attrs["dx"]),
                np.asarray(f.attrs.get("origin", np.zeros(3))),
                extra,
                attrs,
            )
    except OSError as exc:
        raise DataError(path, f"cannot read as HDF5 ({str(exc).splitlines()[0][:120]})") from None
    except KeyError as exc:
        raise DataError(path, f"missing attribute {exc}") from None
    return validate(grid, path)


# --------------------------------------------------------------------------- AMReX plotfile
def _parse_plotfile_header(path: Path) -> dict[str, Any]:
    lines = (path / "Header").read_text().split("\n")
    nvar = int(lines[1])
    names = [s.strip() for s in lines[2 : 2 + nvar]]
    i = 2 + nvar
    dim = int(lines[i])
    if dim != 3:
        raise DataError(path, f"{dim}D plotfile, expected 3D")
    nlev = int(lines[i + 2]) + 1
    prob_lo = np.array(lines[i + 3].split(), dtype=float)
    boxes = re.findall(r"\(\((\d+),(\d+),(\d+)\) \((\d+),(\d+),(\d+)\)", lines[i + 6])
    domains = [(np.array(b[:3], dtype=int), np.array(b[3:], dtype=int)) for b in boxes]
    dxs = [np.array(lines[i + 8 + lev].split(), dtype=float) for lev in range(nlev)]
    return {"names": names, "domains": domains, "dx": dxs, "prob_lo": prob_lo, "levels": nlev}


def _read_fab(fname: Path, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """One FAB: ASCII header ``FAB ((8, (..)),(8, (byte order)))(lo hi type) ncomp`` + data."""
    with open(fname, "rb") as f:
        f.seek(offset)
        header = f.readline().decode("ascii", "replace")
        m = re.search(
            r"\(8, \(([\d ]+)\)\)\)\(\((\d+),(\d+),(\d+)\) \((\d+),(\d+),(\d+)\).*\) (\d+)", header
        )
        if m is None:
            raise ValueError(f"unrecognised FAB header {header[:60]!r}")
        order = [int(b) for b in m.group(1).split()]
        lo = np.array(m.group(2, 3, 4), dtype=int)
        hi = np.array(m.group(5, 6, 7), dtype=int)
        ncomp = int(m.group(8))
        shape = hi - lo + 1
        dtype = "<f8" if order[0] == 8 else ">f8"
        raw = np.fromfile(f, dtype=dtype, count=ncomp * int(np.prod(shape)))
    # component-major, Fortran order within a component -> (ncomp, x, y, z)
    return lo, raw.reshape(ncomp, shape[2], shape[1], shape[0]).transpose(0, 3, 2, 1)


def pick_level(path: str | Path, level: int | None, shapes: list, dxs: list) -> int:
    """The level to read: ``level``, or 0 when the file has one; else a DataError listing them."""
    listing = ", ".join(
        f"{lev} ({'x'.join(str(int(n)) for n in shape)} cells, dx {dx:g})"
        for lev, (shape, dx) in enumerate(zip(shapes, dxs))
    )
    if level is None and len(shapes) == 1:
        return 0
    if level is None:
        raise DataError(path, f"{len(shapes)} refinement levels: {listing}; pick one with --level")
    if not 0 <= level < len(shapes):
        raise DataError(path, f"no level {level}; the file has levels {listing}")
    return level


def _assemble(path: Path, blocks: list[tuple[np.ndarray, np.ndarray]], level: int) -> tuple:
    """(data (ncomp, X, Y, Z), lo) of the bounding box of ``blocks`` (lo, array).

    Refuses a level whose boxes do not cover their bounding box (a uniform grid is needed).
    """
    lo = np.min([b[0] for b in blocks], axis=0)
    hi = np.max([b[0] + np.array(b[1].shape[1:]) - 1 for b in blocks], axis=0)
    size = int(np.prod(hi - lo + 1))
    if size > sum(b[1][0].size for b in blocks):
        covered = sum(b[1][0].size for b in blocks) / size
        raise DataError(
            path,
            f"level {level} covers {100 * covered:.0f}% of its bounding box "
            f"{tuple(int(v) for v in lo)}-{tuple(int(v) for v in hi)}: not a uniform grid",
        )
    data = np.full((blocks[0][1].shape[0], *(hi - lo + 1)), np.nan)
    seen = np.zeros(hi - lo + 1, dtype=bool)
    for blo, arr in blocks:
        s = blo - lo
        n = arr.shape[1:]
        data[:, s[0] : s[0] + n[0], s[1] : s[1] + n[1], s[2] : s[2] + n[2]] = arr
        seen[s[0] : s[0] + n[0], s[1] : s[1] + n[1], s[2] : s[2] + n[2]] = True
    covered = float(seen.mean())
    if covered < 1.0:
        raise DataError(
            path,
            f"level {level} covers {100 * covered:.0f}% of its bounding box "
            f"{tuple(int(v) for v in lo)}-{tuple(int(v) for v in hi)}: not a uniform grid",
        )
    return data, lo


def read_plotfile(path: str | Path, level: int | None = None) -> GridData:
    """Read one level of an AMReX plotfile directory (``Header`` + ``Level_<n>/Cell_H`` + FABs).

    With several levels ``level`` must say which (:func:`pick_level`); the level's boxes must
    cover their bounding box. Stored Ham / Mom1-3 (and any other non-CCZ4 component) go to
    ``extra``.
    """
    path = Path(path)
    try:
        hdr = _parse_plotfile_header(path)
        shapes = [hi - lo + 1 for lo, hi in hdr["domains"]]
        lev = pick_level(path, level, shapes, [d[0] for d in hdr["dx"]])
        cell_h = (path / f"Level_{lev}" / "Cell_H").read_text()
        fabs = re.findall(r"FabOnDisk: (\S+) (\d+)", cell_h)
        blocks = [_read_fab(path / f"Level_{lev}" / f, int(off)) for f, off in fabs]
        if not blocks:
            raise ValueError(f"no FABs listed in Level_{lev}/Cell_H")
        data, lo = _assemble(path, blocks, lev)
    except (OSError, ValueError, IndexError) as exc:
        raise DataError(
            path, f"cannot read as AMReX plotfile ({str(exc).splitlines()[0][:120]})"
        ) from None
    fields = dict(zip(hdr["names"], data))
    vars25 = _stack_vars(fields, path)
    extra = {k: v for k, v in fields.items() if k not in VAR_NAMES}
    dx = hdr["dx"][lev]
    origin = hdr["prob_lo"] + (lo + 0.5) * dx
    attrs = {"source": "amrex", "level": lev, "levels": hdr["levels"]}
    return validate(GridData(vars25, float(dx[0]), origin, extra, attrs), path)


# --------------------------------------------------------------------------- GRChombo HDF5
def read_chombo(path: str | Path, level: int | None = None) -> GridData:
    """Read one level of a GRChombo (Chombo) HDF5 plot/checkpoint file, all boxes assembled.

    Layout: root attrs ``component_<n>`` names, ``num_levels``; ``level_<n>`` attrs ``dx``,
    ``prob_domain``; ``boxes`` (lo_i..hi_k); ``data:datatype=0`` flat, per box component-major,
    Fortran order. Ghost cells in ``data_attributes/outputGhost`` are stripped. With several
    levels ``level`` must say which (:func:`pick_level`).
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            ncomp = int(f.attrs["num_components"])
            names = [_s(f.attrs[f"component_{c}"]) for c in range(ncomp)]
            nlev = int(f.attrs.get("num_levels", 1))
            doms = [f[f"level_{k}"].attrs["prob_domain"] for k in range(nlev)]
            shapes = [[d[f"hi_{a}"] - d[f"lo_{a}"] + 1 for a in "ijk"] for d in doms]
            dxs = [float(f[f"level_{k}"].attrs["dx"]) for k in range(nlev)]
            lev_n = pick_level(path, level, shapes, dxs)
            lev = f[f"level_{lev_n}"]
            ghost = np.array(
                tuple(lev["data_attributes"].attrs.get("outputGhost", (0, 0, 0))), dtype=int
            )
            flat = lev["data:datatype=0"][()]
            boxes = lev["boxes"][()]
            blocks = _chombo_blocks(flat, boxes, ncomp, ghost)
            data, lo = _assemble(Path(path), blocks, lev_n)
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(
            path, f"cannot read as GRChombo HDF5 ({str(exc).splitlines()[0][:120]})"
        ) from None
    fields = dict(zip(names, data))
    vars25 = _stack_vars(fields, path)
    extra = {k: v for k, v in fields.items() if k not in VAR_NAMES}
    dx = dxs[lev_n]
    attrs = {"source": "grchombo", "level": lev_n, "levels": nlev}
    return validate(GridData(vars25, dx, (lo + 0.5) * dx, extra, attrs), path)


def _chombo_blocks(
    flat: np.ndarray, boxes: np.ndarray, ncomp: int, ghost: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(lo, (ncomp, x, y, z) array) of every box of a Chombo level, ghost cells stripped."""
    blocks, pos = [], 0
    for b in boxes:
        blo = np.array([b["lo_i"], b["lo_j"], b["lo_k"]]) - ghost
        n = np.array([b["hi_i"], b["hi_j"], b["hi_k"]]) + ghost - blo + 1
        size = ncomp * int(np.prod(n))
        if pos + size > flat.size:
            raise ValueError(f"data:datatype=0 holds {flat.size} values, the boxes need more")
        arr = flat[pos : pos + size].reshape(ncomp, n[2], n[1], n[0]).transpose(0, 3, 2, 1)
        pos += size
        g = ghost
        blocks.append((blo + g, arr[:, g[0] : n[0] - g[0], g[1] : n[1] - g[1], g[2] : n[2] - g[2]]))
    return blocks


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def write_chombo(
    path: str | Path, grid: GridData, provenance: dict[str, Any] | None = None
) -> Path:
    """Write ``grid`` as a single-box, single-level GRChombo (Chombo) HDF5 file."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(VAR_NAMES) + list(grid.extra)
    data = (
        np.concatenate([grid.vars, np.stack(list(grid.extra.values()))])
        if grid.extra
        else grid.vars
    )
    n = np.array(data.shape[1:])
    lo = np.rint(np.asarray(grid.origin) / grid.dx - 0.5).astype(int)
    hi = lo + n - 1
    box_t = np.dtype([(k, "<i4") for k in ("lo_i", "lo_j", "lo_k", "hi_i", "hi_j", "hi_k")])
    box = np.array([tuple(lo) + tuple(hi)], dtype=box_t)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update(
            {
                "num_components": len(names),
                "num_levels": 1,
                "max_level": 0,
                "iteration": 0,
                "time": 0.0,
            }
        )
        for c, name in enumerate(names):
            f.attrs[f"component_{c}"] = np.bytes_(name)
        f.attrs["provenance"] = json.dumps(provenance or {}, default=_jsonable)
        f.create_group("Chombo_global").attrs["SpaceDim"] = np.int32(3)
        lev = f.create_group("level_0")
        lev.attrs.update({"dx": float(grid.dx), "ref_ratio": np.int32(2), "time": 0.0, "dt": 0.0})
        lev.attrs["prob_domain"] = box[0]
        lev.create_dataset("boxes", data=box)
        flat = data.transpose(0, 3, 2, 1).reshape(-1)
        lev.create_dataset("data:datatype=0", data=flat)
        lev.create_dataset("data:offsets=0", data=np.array([0, flat.size], dtype=np.int64))
        ghost_t = np.dtype([("intvecti", "<i4"), ("intvectj", "<i4"), ("intvectk", "<i4")])
        da = lev.create_group("data_attributes")
        da.attrs["comps"] = np.int32(len(names))
        da.attrs["outputGhost"] = np.zeros((), dtype=ghost_t)
        da.attrs["objectType"] = np.bytes_("FArrayBox")
    return path


def read_any(path: str | Path, level: int | None = None) -> GridData:
    """Dispatch on the format: AMReX plotfile directory, nrfix HDF5 or GRChombo HDF5.

    ``level`` picks a refinement level of a plotfile or GRChombo file (required when it has
    more than one; the error lists them).
    """
    import h5py

    path = Path(path)
    if path.is_dir():
        if not (path / "Header").is_file():
            raise DataError(path, "directory without an AMReX 'Header' (not a plotfile)")
        return read_plotfile(path, level)
    if not path.is_file():
        raise DataError(path, "no such file")
    try:
        with h5py.File(path, "r") as f:
            kind = "ours" if "vars" in f else "chombo" if "level_0" in f else None
    except OSError:
        raise DataError(path, "not an HDF5 file or AMReX plotfile") from None
    if kind is None:
        raise DataError(path, "HDF5 file with neither 'vars' (nrfix) nor 'level_0' (GRChombo)")
    if kind == "ours" and level not in (None, 0):
        raise DataError(path, f"no level {level}: an nrfix HDF5 file holds one uniform grid")
    return read_hdf5(path) if kind == "ours" else read_chombo(path, level)
