"""Phonopy files in and out, in eV and Angstrom.

Reads phonopy.yaml / phonopy_disp.yaml (+ FORCE_SETS type 1 or type 2, vasprun.xml,
FORCE_CONSTANTS, force_constants.hdf5, BORN ignored) and POSCAR; writes FORCE_CONSTANTS
(compact with p2s_map, or full), force_constants.hdf5 and a phonopy.yaml beside them so that
``phonopy-load`` / ``phonopy.load`` read the prediction directly.

Safety: phonopy's own YAML reader uses PyYAML's unsafe loader, so a ``!!python/object/apply``
tag in a phonopy yaml would run code. Every yaml is therefore read here first with the safe
loader (a python tag is refused with one line) and phonopy parses the bytes that passed,
from memory, inside an empty working directory (phonopy otherwise picks up FORCE_SETS /
FORCE_CONSTANTS / BORN from the current directory). Every reader checks that the numbers it
returns are finite (a NaN coordinate would crash spglib) and have the expected shapes.

Units: phonopy keeps the calculator's units. Everything returned here is converted to
Angstrom, eV/A (forces) and eV/A^2 (force constants) with phonopy's own factors (QE:
Ry/bohr^2 -> x 13.6057/0.529177^2 = 48.59). Array shapes follow phonopy: compact fc
(n_prim, N, 3, 3), full fc (N, N, 3, 3).
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import math
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import UserError

__all__ = [
    "FcInputError",
    "load_phonopy",
    "read_structure",
    "read_force_constants",
    "write_prediction",
    "to_compact",
    "fc_unit_factor",
    "make_phonopy",
    "angstrom_unitcell",
    "safe_yaml_bytes",
    "check_force_sets",
]


class FcInputError(UserError):
    """A structure or phonopy file a user gave cannot be used; the message names it."""


def fc_unit_factor(calculator: str | None) -> tuple[float, float]:
    """(length -> A, force constants -> eV/A^2) factors of a phonopy calculator interface."""
    if calculator in (None, "vasp"):
        return 1.0, 1.0
    from phonopy.interface.calculator import get_calculator_physical_units

    u = get_calculator_physical_units(calculator)
    return u.distance_to_A, u.energy_to_eV / u.distance_to_A**2


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _first(exc: BaseException) -> str:
    """The first line of an exception's message (or its type), at most 160 characters."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]


def _check_finite(values: np.ndarray, path: str | Path, what: str) -> None:
    if not np.all(np.isfinite(values)):
        raise FcInputError(f"{path}: NaN or Inf in the {what}")


@contextlib.contextmanager
def _empty_cwd() -> Iterator[None]:
    """Run inside an empty temporary directory (phonopy reads files it finds in the cwd)."""
    old = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="fcpredict-") as empty:
        os.chdir(empty)
        try:
            yield
        finally:
            os.chdir(old)


def _read_bytes(path: Path) -> bytes:
    """A file's bytes, decompressed when it ends in .xz/.lzma/.gz/.bz2 (as phonopy allows)."""
    opener = {".xz": lzma.open, ".lzma": lzma.open, ".gz": gzip.open, ".bz2": bz2.open}
    try:
        with opener.get(path.suffix, open)(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise FcInputError(f"{path}: cannot read ({_first(exc)})") from None


def safe_yaml_bytes(path: str | Path) -> bytes:
    """The bytes of a phonopy yaml after a safe parse, for phonopy to read from memory.

    Refuses, with one line naming the file: python tags (``!!python/object/apply`` and the
    like would run code in phonopy's unsafe loader) and any other non-standard tag, invalid
    YAML, a top level that is not a mapping, NaN/Inf numbers and zero-volume lattices.
    """
    import yaml

    path = Path(path)
    raw = _read_bytes(path)
    if not raw.strip():
        raise FcInputError(f"{path}: empty file")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(raw, Loader=loader)  # a safe loader: no python tags
    except yaml.constructor.ConstructorError as exc:
        tag = re.search(r"'(tag:[^']*)'", str(exc))
        shown = tag.group(1).replace("tag:yaml.org,2002:", "!!") if tag else "a non-standard tag"
        why = "would run code" if "python/" in str(exc) else "is not plain YAML"
        raise FcInputError(f"{path}: refused: YAML tag {shown[:80]} {why}") from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise FcInputError(f"{path}: not valid YAML ({_first(exc)})") from None
    if not isinstance(data, dict):
        raise FcInputError(f"{path}: not a phonopy yaml (expected a mapping at the top level)")
    _check_yaml_numbers(data, path)
    return raw


def _bad_number(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, str) and len(value) < 40:
        try:
            return not math.isfinite(float(value))
        except ValueError:
            return False
    return False


def _check_yaml_numbers(data: Any, path: Path) -> None:
    """Every number finite, every 3x3 ``lattice`` of non-zero volume (iterative walk)."""
    seen: set[int] = set()
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        key, node = stack.pop()
        if isinstance(node, (dict, list)):
            if id(node) in seen:  # YAML aliases share objects; visit each once
                continue
            seen.add(id(node))
            items = node.items() if isinstance(node, dict) else enumerate(node)
            stack.extend(
                (f"{key}.{k}" if isinstance(node, dict) else f"{key}[{k}]", v) for k, v in items
            )
            if key.endswith("lattice") and isinstance(node, list):
                _check_lattice(node, path, key.lstrip("."))
        elif _bad_number(node):
            raise FcInputError(f"{path}: {key.lstrip('.')} is {node!r} (NaN or Inf)")


def _check_lattice(rows: list, path: Path, key: str) -> None:
    try:
        lattice = np.array(rows, dtype=float)
    except (TypeError, ValueError):
        raise FcInputError(f"{path}: {key} is not a 3x3 matrix of numbers") from None
    if lattice.shape != (3, 3) or abs(np.linalg.det(lattice)) < 1e-6:
        raise FcInputError(f"{path}: {key} is not a 3x3 lattice of non-zero volume")


def check_force_sets(path: str | Path) -> dict[str, Any]:
    """Parse a FORCE_SETS file (type 1 or 2) and check that its numbers are finite.

    Returns
    -------
    dict
        phonopy's dataset (type 1: ``first_atoms`` with displacement and forces; type 2:
        ``displacements`` and ``forces`` (n, N, 3)).
    """
    from phonopy.file_IO import parse_FORCE_SETS

    path = Path(path)
    if path.stat().st_size == 0:
        raise FcInputError(f"{path}: empty FORCE_SETS")
    try:
        with _quiet():
            dataset = parse_FORCE_SETS(filename=str(path))
    except RecursionError:  # phonopy's reader recurses over a file that ends early
        raise FcInputError(f"{path}: truncated or malformed FORCE_SETS") from None
    except Exception as exc:
        raise FcInputError(f"{path}: not a readable FORCE_SETS ({_first(exc)})") from None
    if "first_atoms" in dataset:
        arrays = [
            np.asarray(d[k], dtype=float)
            for d in dataset["first_atoms"]
            for k in ("displacement", "forces")
            if k in d
        ]
    else:
        arrays = [np.asarray(dataset.get(k, []), dtype=float) for k in ("displacements", "forces")]
    if not arrays or any(a.size == 0 for a in arrays):
        raise FcInputError(f"{path}: FORCE_SETS holds no displacements/forces")
    for a in arrays:
        _check_finite(a, path, "displacements/forces")
    return dataset


def _phonopy_yaml_in(folder: Path) -> Path:
    for name in ("phonopy_disp.yaml", "phonopy.yaml", "phonopy_params.yaml"):
        if (folder / name).is_file():
            return folder / name
    raise FcInputError(f"{folder}: no phonopy_disp.yaml or phonopy.yaml in this folder")


def load_phonopy(path: str | Path, produce_fc: bool = True, symprec: float = 1e-5) -> Any:
    """Load a phonopy folder or yaml; forces from FORCE_SETS (type 1 or 2) or vasprun.xml.

    Force constants (when ``produce_fc``) come from FORCE_CONSTANTS / force_constants.hdf5 if
    present, else are fitted from the forces (type 2 with symfc). Returns ``phonopy.Phonopy``.
    """
    import phonopy

    path = Path(path)
    if not path.exists():
        raise FcInputError(f"{path}: no such file or folder")
    yaml_path = (_phonopy_yaml_in(path) if path.is_dir() else path).resolve()
    folder = yaml_path.parent
    fs = folder / "FORCE_SETS"
    fc_file = next(
        (folder / n for n in ("force_constants.hdf5", "FORCE_CONSTANTS") if (folder / n).is_file()),
        None,
    )
    raw = safe_yaml_bytes(yaml_path)
    if fs.is_file():
        check_force_sets(fs)
    kw: dict[str, Any] = dict(is_nac=False, log_level=0, produce_fc=False, symprec=symprec)
    try:
        with _quiet(), _empty_cwd():
            ph = phonopy.load(
                io.BytesIO(raw), force_sets_filename=str(fs) if fs.is_file() else None, **kw
            )
    except Exception as exc:  # phonopy raises many types for a bad yaml
        raise FcInputError(f"{yaml_path}: not a readable phonopy yaml ({_first(exc)})") from None
    if ph.force_constants is not None:
        _check_finite(np.asarray(ph.force_constants), yaml_path, "force constants")
    if not fs.is_file() and (folder / "vasprun.xml").is_file():
        _forces_from_vasprun(ph, folder / "vasprun.xml")
    if produce_fc and fc_file is not None:
        ph.force_constants = to_compact(ph, read_force_constants(fc_file, ph))
    elif produce_fc:
        _produce_fc(ph, yaml_path, fs if fs.is_file() else None)
    return ph


def _forces_from_vasprun(ph: Any, vasprun: Path) -> None:
    from phonopy.interface.vasp import parse_set_of_forces

    try:
        with _quiet():
            sets = parse_set_of_forces(len(ph.supercell), [str(vasprun)], verbose=False)
    except Exception as exc:
        raise FcInputError(f"{vasprun}: cannot read forces ({_first(exc)})") from None
    if not sets or "forces" not in sets:
        raise FcInputError(f"{vasprun}: no forces found")
    _check_finite(np.asarray(sets["forces"], dtype=float), vasprun, "forces")
    ph.forces = np.asarray(sets["forces"])
    if "supercell_energies" in sets:
        ph.supercell_energies = np.asarray(sets["supercell_energies"])


def _produce_fc(ph: Any, yaml_path: Path, force_sets: Path | None) -> None:
    if ph.dataset is None or not ph.dataset:
        raise FcInputError(f"{yaml_path}: no forces (FORCE_SETS) and no force constants")
    try:
        with _quiet():
            calc = "symfc" if "displacements" in ph.dataset else None
            ph.produce_force_constants(fc_calculator=calc)
    except Exception as exc:
        raise FcInputError(
            f"{force_sets or yaml_path}: cannot fit force constants ({_first(exc)})"
        ) from None
    _check_finite(np.asarray(ph.force_constants), force_sets or yaml_path, "force constants")
    ph.force_constants = to_compact(ph, ph.force_constants)


def to_compact(ph: Any, fc: np.ndarray) -> np.ndarray:
    """Compact (n_prim, N, 3, 3) view of a full or compact fc of ``ph.supercell``."""
    from phonopy.harmonic.force_constants import full_fc_to_compact_fc

    n_p, n = len(ph.primitive), len(ph.supercell)
    if fc.shape == (n_p, n, 3, 3):
        return np.ascontiguousarray(fc, dtype="double")
    if fc.shape == (n, n, 3, 3):
        return full_fc_to_compact_fc(ph.primitive, np.ascontiguousarray(fc, dtype="double"))
    raise FcInputError(f"force constants of shape {fc.shape} do not match a supercell of {n} atoms")


def read_force_constants(path: str | Path, ph: Any) -> np.ndarray:
    """FORCE_CONSTANTS or force_constants.hdf5 (compact or full) for ``ph``, in eV/A^2."""
    from phonopy.file_IO import parse_FORCE_CONSTANTS, read_force_constants_hdf5

    path = Path(path)
    p2s = ph.primitive.p2s_map
    try:
        with _quiet():
            if path.suffix in (".hdf5", ".h5"):
                fc = read_force_constants_hdf5(str(path), p2s_map=p2s)
            else:
                fc = parse_FORCE_CONSTANTS(str(path), p2s_map=p2s)
    except Exception as exc:
        raise FcInputError(f"{path}: not a readable force-constants file ({_first(exc)})") from None
    fc = np.asarray(fc, dtype="double")
    n, n_p = len(ph.supercell), len(ph.primitive)
    if fc.ndim != 4 or fc.shape[1:] != (n, 3, 3) or fc.shape[0] not in (n_p, n):
        raise FcInputError(
            f"{path}: force constants of shape {fc.shape} do not match the {n}-atom supercell"
        )
    _check_finite(fc, path, "force constants")
    return fc * fc_unit_factor(ph.calculator)[1]


def read_structure(path: str | Path) -> Any:
    """A unit cell (PhonopyAtoms, Angstrom) from POSCAR, or from a phonopy yaml's unitcell."""
    from phonopy.interface.calculator import read_crystal_structure

    path = Path(path)
    if not path.is_file():
        raise FcInputError(f"{path}: no such file")
    if path.suffix in (".yaml", ".yml"):
        return angstrom_unitcell(load_phonopy(path, produce_fc=False))
    try:
        with _quiet():
            cell, _ = read_crystal_structure(str(path), interface_mode="vasp")
    except Exception as exc:
        raise FcInputError(f"{path}: not a readable POSCAR ({_first(exc)})") from None
    if cell is None or len(cell) == 0:
        raise FcInputError(f"{path}: not a readable POSCAR (no atoms)")
    _check_finite(np.asarray(cell.cell), path, "lattice")
    _check_finite(np.asarray(cell.scaled_positions), path, "coordinates")
    if abs(np.linalg.det(cell.cell)) < 1e-6:
        raise FcInputError(f"{path}: not a readable POSCAR (zero-volume cell)")
    return cell


def make_phonopy(unitcell: Any, supercell_matrix: Any, primitive_matrix: Any = "auto") -> Any:
    """A ``phonopy.Phonopy`` for a unit cell and supercell matrix (3 ints or 3x3)."""
    from phonopy import Phonopy

    smat = np.asarray(supercell_matrix, dtype=int)
    smat = np.diag(smat) if smat.shape == (3,) else smat
    if smat.shape != (3, 3) or round(abs(np.linalg.det(smat))) < 1:
        raise FcInputError(f"supercell matrix {supercell_matrix} must be 3 or 3x3 integers, det>0")
    with _quiet():
        return Phonopy(unitcell, supercell_matrix=smat, primitive_matrix=primitive_matrix)


def write_prediction(out: str | Path, ph: Any, fc: np.ndarray, meta: dict[str, Any]) -> list[Path]:
    """Write ``out`` (FORCE_CONSTANTS, compact with p2s_map or full), force_constants.hdf5
    and phonopy.yaml (structure + force constants) beside it, each atomically.
    """
    from phonopy.file_IO import write_FORCE_CONSTANTS, write_force_constants_to_hdf5

    from common.hdf5 import write_json_attr
    from common.io import atomic_path

    out = Path(out)
    _check_finite(np.asarray(fc), out, "predicted force constants (nothing written)")
    out.parent.mkdir(parents=True, exist_ok=True)
    compact = fc.shape[0] != fc.shape[1]
    p2s = ph.primitive.p2s_map if compact else None
    h5 = out.parent / "force_constants.hdf5"
    yml = out.parent / "phonopy.yaml"
    with atomic_path(out) as tmp:
        write_FORCE_CONSTANTS(fc, filename=str(tmp), p2s_map=p2s)
    with atomic_path(h5) as tmp:
        write_force_constants_to_hdf5(
            fc, filename=str(tmp), p2s_map=p2s, physical_unit="eV/angstrom^2"
        )
        import h5py

        with h5py.File(tmp, "a") as f:
            write_json_attr(f, "fcpredict", meta)
    ph.force_constants = fc
    with atomic_path(yml) as tmp, _quiet():
        ph.save(
            str(tmp),
            settings={"force_constants": True, "force_sets": False, "displacements": False},
        )
    return [out, h5, yml]


def angstrom_unitcell(ph: Any) -> Any:
    """The unit cell of a loaded phonopy object in Angstrom (PhonopyAtoms)."""
    from phonopy.structure.atoms import PhonopyAtoms

    length = fc_unit_factor(ph.calculator)[0]
    u = ph.unitcell
    return PhonopyAtoms(
        symbols=u.symbols,
        cell=u.cell * length,
        scaled_positions=u.scaled_positions,
        masses=u.masses,
    )
