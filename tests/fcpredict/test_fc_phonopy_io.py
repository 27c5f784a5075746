"""Phonopy I/O on the real DFT datasets: read, write, read back by phonopy, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import phonopy
import pytest

from fcpredict.phonopy_io import (
    FcInputError,
    load_phonopy,
    read_force_constants,
    read_structure,
    write_prediction,
)


def _freqs(ph) -> np.ndarray:
    ph.run_qpoints([[0, 0, 0], [0.5, 0, 0], [0.5, 0.5, 0.25]])
    return ph.qpoints.frequencies


@pytest.mark.parametrize("name", ["NaCl", "NaCl-rd", "Si", "MgB2"])
def test_load_dft_sets(shared_dir: Path, name: str) -> None:
    ph = load_phonopy(shared_dir / "data/fcpredict/phonopy" / name)
    n_p, n = len(ph.primitive), len(ph.supercell)
    assert ph.force_constants.shape == (n_p, n, 3, 3)
    assert np.isfinite(ph.force_constants).all()
    if name.startswith("NaCl"):  # the anchor of REFERENCES.md: mean |Phi| = 0.043 eV/A^2
        assert abs(np.abs(ph.force_constants).mean() - 0.043) < 0.002


@pytest.mark.parametrize("compact", [True, False])
def test_written_fc_read_back_by_phonopy(shared_dir: Path, tmp_path: Path, compact: bool) -> None:
    ref = load_phonopy(shared_dir / "data/fcpredict/phonopy/NaCl")
    f_ref = _freqs(ref)
    fc = ref.force_constants
    if not compact:
        from phonopy.harmonic.force_constants import compact_fc_to_full_fc

        fc = compact_fc_to_full_fc(ref.primitive, fc)
    files = write_prediction(tmp_path / "FORCE_CONSTANTS", ref, fc, {"test": True})
    assert all(p.is_file() for p in files)
    back = phonopy.load(str(tmp_path / "phonopy.yaml"), is_nac=False, log_level=0)
    np.testing.assert_allclose(_freqs(back), f_ref, atol=1e-6)
    # and the plain FORCE_CONSTANTS file with the reference structure
    ph2 = load_phonopy(shared_dir / "data/fcpredict/phonopy/NaCl", produce_fc=False)
    ph2.force_constants = read_force_constants(tmp_path / "FORCE_CONSTANTS", ph2)
    np.testing.assert_allclose(_freqs(ph2), f_ref, atol=1e-6)
    ph2.force_constants = read_force_constants(tmp_path / "force_constants.hdf5", ph2)
    np.testing.assert_allclose(_freqs(ph2), f_ref, atol=1e-6)


def test_bad_files_give_clear_errors(shared_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "POSCAR"
    bad.write_text("this is not a POSCAR\n1.0\n")
    with pytest.raises(FcInputError, match="POSCAR"):
        read_structure(bad)
    with pytest.raises(FcInputError, match="no such file"):
        read_structure(tmp_path / "missing")
    ph = load_phonopy(shared_dir / "data/fcpredict/phonopy/NaCl", produce_fc=False)
    trunc = tmp_path / "FORCE_CONSTANTS"
    trunc.write_text("2 64\n1 1\n0.1 0.2\n")
    with pytest.raises(FcInputError, match="FORCE_CONSTANTS"):
        read_force_constants(trunc, ph)
    with pytest.raises(FcInputError, match="no phonopy_disp.yaml"):
        load_phonopy(tmp_path)
    yml = tmp_path / "phonopy.yaml"
    yml.write_text("phonopy:\n  version: 2.0\nunit_cell: [broken\n")
    with pytest.raises(FcInputError, match="phonopy.yaml"):
        load_phonopy(yml)
