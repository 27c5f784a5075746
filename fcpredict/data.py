"""Training samples from phonopy folders, and the offline synthetic dataset generator.

A phonopy folder (DFT or ``fcpredict make-data``) gives

* one *equilibrium* sample: the perfect supercell with its compact force constants
  Phi (n_prim, N, 3, 3) eV/A^2 (fitted by phonopy from the forces) and, if known, its energy;
* *displaced* samples: each displaced supercell of the dataset with its forces (N, 3) eV/A
  (FORCE_SETS type 1 or type 2) and energy if known.

``make_dataset`` builds fcc supercells (strained, rattled, alloyed) and labels them with an
ASE classical potential (EMT by default) through phonopy's displacement workflow
(generate_displacements -> forces -> produce_force_constants), so everything runs offline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import UserError
from fcpredict.phonopy_io import FcInputError, fc_unit_factor, load_phonopy

__all__ = [
    "Sample",
    "find_phonopy_folders",
    "samples_from_phonopy",
    "load_folders",
    "make_dataset",
    "EMT_FCC_A",
]

# fcc lattice constants (Angstrom) of the metals ASE's EMT describes
EMT_FCC_A = {"Al": 4.05, "Cu": 3.61, "Ag": 4.09, "Au": 4.08, "Ni": 3.52, "Pd": 3.89, "Pt": 3.92}


@dataclass
class Sample:
    """One supercell with its labels (eV, Angstrom). Missing labels are None / nan."""

    name: str
    positions: np.ndarray  # (N, 3) A
    cell: np.ndarray  # (3, 3) A, rows are lattice vectors
    numbers: np.ndarray  # (N,)
    masses: np.ndarray  # (N,) amu
    energy: float = float("nan")  # eV (whole supercell)
    forces: np.ndarray | None = None  # (N, 3) eV/A
    fc: np.ndarray | None = None  # compact (n_prim, N, 3, 3) eV/A^2
    p2s: np.ndarray | None = None  # (n_prim,) supercell index of each primitive atom
    s2pp: np.ndarray | None = None  # (N,) primitive index (0..n_prim-1) of each atom
    qpoints_cart: np.ndarray | None = None  # (Q, 3) commensurate q, 2 pi / A


def find_phonopy_folders(dirs: list[str | Path]) -> list[Path]:
    """The given folders that hold a phonopy yaml, or their immediate subfolders that do."""
    out: list[Path] = []
    for d in map(Path, dirs):
        if not d.is_dir():
            raise FcInputError(f"{d}: no such data folder")
        if any((d / n).is_file() for n in ("phonopy_disp.yaml", "phonopy.yaml")):
            out.append(d)
            continue
        subs = sorted(
            s
            for s in d.iterdir()
            if s.is_dir() and any((s / n).is_file() for n in ("phonopy_disp.yaml", "phonopy.yaml"))
        )
        if not subs:
            raise FcInputError(f"{d}: contains no phonopy folder (phonopy_disp.yaml)")
        out.extend(subs)
    return out


def _commensurate_q(ph: Any) -> np.ndarray:
    """Commensurate q points of the supercell, Cartesian (Q, 3) in 2 pi / A."""
    from phonopy.harmonic.dynmat_to_fc import get_commensurate_points

    smat = np.rint(np.linalg.inv(ph.primitive_matrix) @ ph.supercell_matrix).astype(int)
    q_frac = get_commensurate_points(smat)
    recip = np.linalg.inv(ph.primitive.cell).T  # rows b_k with a_i . b_k = delta_ik
    return 2 * np.pi * q_frac @ recip


def samples_from_phonopy(
    ph: Any, name: str, max_disp: int, energies: dict | None = None
) -> list[Sample]:
    """Equilibrium + up to ``max_disp`` displaced samples of a loaded phonopy object."""
    length, fc_factor = fc_unit_factor(ph.calculator)
    force_factor = fc_factor * length
    sc = ph.supercell
    prim = ph.primitive
    s2pp = np.array([list(prim.p2s_map).index(s) for s in prim.s2p_map])
    base = dict(cell=sc.cell * length, numbers=np.array(sc.numbers), masses=np.array(sc.masses))
    fc = None if ph.force_constants is None else np.array(ph.force_constants)
    eq = Sample(
        name=name,
        positions=sc.positions * length,
        fc=fc,
        p2s=np.array(prim.p2s_map),
        s2pp=s2pp,
        qpoints_cart=_commensurate_q(ph) / length,
        energy=float((energies or {}).get("equilibrium_eV", float("nan"))),
        **base,
    )
    out = [eq]
    if max_disp <= 0 or not ph.dataset:
        return out
    try:
        forces = np.asarray(ph.forces)
    except (RuntimeError, TypeError):
        return out
    disp_e = (energies or {}).get("displaced_eV", [])
    for k, cell in enumerate(ph.supercells_with_displacements[:max_disp]):
        out.append(
            Sample(
                name=f"{name}/disp-{k:03d}",
                positions=cell.positions * length,
                forces=forces[k] * force_factor,
                energy=float(disp_e[k]) if k < len(disp_e) else float("nan"),
                **base,
            )
        )
    return out


def load_folders(folders: list[Path], max_disp: int) -> dict[str, list[Sample]]:
    """Samples of each phonopy folder, keyed by folder name."""
    out = {}
    for folder in folders:
        ph = load_phonopy(folder)
        efile = folder / "energies.json"
        energies = read_energies(efile) if efile.is_file() else None
        samples = samples_from_phonopy(ph, folder.name, max_disp, energies)
        for s in samples:
            _check_sample(s, folder)
        out[folder.name] = samples
    return out


def read_energies(path: Path) -> dict[str, Any]:
    """``energies.json`` of a folder: ``equilibrium_eV`` and ``displaced_eV`` (finite, eV)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FcInputError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise FcInputError(f"{path}: expected a JSON object with equilibrium_eV/displaced_eV")
    values = [data.get("equilibrium_eV", 0.0)]
    displaced = data.get("displaced_eV", [])
    values += displaced if isinstance(displaced, list) else [displaced]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise FcInputError(f"{path}: energy {v!r} is not a finite number (eV)")
    return data


def _check_sample(s: Sample, folder: Path) -> None:
    """Refuse a training sample with non-finite numbers or mismatched shapes."""
    n = len(s.numbers)
    arrays = {"positions": (s.positions, (n, 3)), "cell": (s.cell, (3, 3))}
    if s.forces is not None:
        arrays["forces"] = (s.forces, (n, 3))
    if s.fc is not None:
        arrays["force constants"] = (s.fc, (len(s.p2s), n, 3, 3))
    for what, (values, shape) in arrays.items():
        values = np.asarray(values)
        if values.shape != shape:
            raise FcInputError(f"{folder}: {s.name} {what} of shape {values.shape}, not {shape}")
        if not np.all(np.isfinite(values)):
            raise FcInputError(f"{folder}: NaN or Inf in the {what} of {s.name}")


def _calculator(name: str) -> Any:
    from ase.calculators.emt import EMT
    from ase.calculators.lj import LennardJones
    from ase.calculators.morse import MorsePotential

    if name == "emt":
        return EMT()
    if name == "lj":
        return LennardJones(sigma=2.3, epsilon=0.4, rc=6.0, smooth=True)
    if name == "morse":
        return MorsePotential(epsilon=0.5, r0=2.6, rho0=6.0)
    raise UserError(f"--calculator: unknown calculator {name!r} (emt, lj or morse)")


def _random_unitcell(rng: np.random.Generator, elements: list[str]) -> Any:
    """Conventional fcc cell (4 atoms): random element(s), strain, rattle; PhonopyAtoms."""
    from phonopy.structure.atoms import PhonopyAtoms

    base = elements[rng.integers(len(elements))]
    symbols = [base] * 4
    if rng.random() < 0.5:  # alloy
        other = elements[rng.integers(len(elements))]
        for k in rng.choice(4, size=int(rng.integers(1, 3)), replace=False):
            symbols[k] = other
    a = np.mean([EMT_FCC_A.get(s, 3.8) for s in symbols])
    strain = rng.normal(scale=0.015, size=(3, 3))
    cell = np.eye(3) * a @ (np.eye(3) + 0.5 * (strain + strain.T))
    frac = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]], dtype=float)
    if rng.random() < 0.5:  # rattle
        frac = frac + rng.normal(scale=0.03, size=frac.shape) / a
    return PhonopyAtoms(symbols=symbols, cell=cell, scaled_positions=frac)


def _label_with_ase(ph: Any, calc: Any) -> tuple[list[float], float]:
    """Forces and energies of every displaced supercell; energy of the perfect supercell."""
    from ase import Atoms

    def run(cell: Any) -> tuple[np.ndarray, float]:
        atoms = Atoms(numbers=cell.numbers, cell=cell.cell, positions=cell.positions, pbc=True)
        atoms.calc = calc
        return atoms.get_forces(), float(atoms.get_potential_energy())

    results = [run(c) for c in ph.supercells_with_displacements]
    ph.forces = np.array([f for f, _ in results])
    energies = [e for _, e in results]
    ph.supercell_energies = np.array(energies)
    return energies, run(ph.supercell)[1]


def make_dataset(
    out: str | Path,
    n_structures: int,
    seed: int = 0,
    calculator: str = "emt",
    dim: int = 2,
    elements: list[str] | None = None,
) -> list[Path]:
    """Write ``n_structures`` labelled phonopy folders ``out/s0000/ ...`` (see module doc)."""
    from phonopy import Phonopy
    from phonopy.file_IO import write_force_constants_to_hdf5, write_FORCE_SETS

    from common.io import atomic_path, atomic_write
    from fcpredict.phonopy_io import _quiet, to_compact

    if n_structures < 1 or not 1 <= dim <= 4 or seed < 0:
        raise UserError(
            f"make-data needs n >= 1, 1 <= dim <= 4, seed >= 0 (got {n_structures}, {dim}, {seed})"
        )
    rng = np.random.default_rng(seed)
    calc = _calculator(calculator)
    elements = list(elements or EMT_FCC_A)
    folders = []
    for k in range(n_structures):
        folder = Path(out) / f"s{k:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        with _quiet():
            ph = Phonopy(
                _random_unitcell(rng, elements),
                supercell_matrix=np.eye(3, dtype=int) * dim,
                primitive_matrix="auto",
            )
            ph.generate_displacements(distance=0.01)
            disp_e, e0 = _label_with_ase(ph, calc)
            ph.produce_force_constants()
        with atomic_path(folder / "phonopy_disp.yaml") as tmp, _quiet():
            ph.save(
                str(tmp),
                settings={"force_sets": False, "displacements": True, "force_constants": False},
            )
        with atomic_path(folder / "FORCE_SETS") as tmp:
            write_FORCE_SETS(ph.dataset, filename=str(tmp))
        with atomic_path(folder / "force_constants.hdf5") as tmp:
            write_force_constants_to_hdf5(
                to_compact(ph, ph.force_constants),
                filename=str(tmp),
                p2s_map=ph.primitive.p2s_map,
                physical_unit="eV/angstrom^2",
            )
        with atomic_write(folder / "energies.json") as fh:
            json.dump(
                {
                    "equilibrium_eV": e0,
                    "displaced_eV": disp_e,
                    "calculator": calculator,
                    "seed": seed,
                    "index": k,
                },
                fh,
            )
        folders.append(folder)
    return folders
