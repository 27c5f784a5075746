"""SevenNet-0 as an fcpredict backbone: energy and forces equal SevenNet's own calculator,
Hessian rows equal central differences of the forces, acoustic sum rule, index symmetry,
phonopy symmetry expansion and rotation equivariance of the exact Hessian; the ase neighbour
list equals the brute-force oracle. Tiny cells only (a few seconds in all).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fc_helpers import rocksalt, rocksalt_phonopy

from fcpredict.graph import neighbor_list
from fcpredict.hessian import (
    energy_and_forces,
    finite_difference_rows,
    force_constants,
    hessian_rows,
)
from fcpredict.neighbours import ase_neighbor_list, crystal_graph

pytest.importorskip("sevenn")


@pytest.fixture(scope="module")
def seven():
    from fcpredict.backbones import load_backbone

    return load_backbone("sevennet-0")


def _nacl(rattle: float = 0.05):
    pos, cell, z = rocksalt(a=5.64, rattle=rattle, seed=1)
    return pos, cell, z


def _edges(ei: torch.Tensor, sh: torch.Tensor) -> set[tuple[int, ...]]:
    return {(int(a), int(b), *map(int, s)) for a, b, s in zip(ei[0], ei[1], sh)}


@pytest.mark.parametrize("skew", [False, True])
def test_ase_neighbours_equal_brute_force(skew: bool) -> None:
    pos, cell, _ = _nacl()
    if skew:  # a small, skewed cell containing several images of each atom
        cell = torch.tensor([[3.0, 0.0, 0.0], [1.9, 2.7, 0.0], [0.6, 0.9, 2.8]], dtype=cell.dtype)
        pos = pos[:3] * 0.5 + 7.1  # positions outside the cell on purpose
    fast = ase_neighbor_list(pos, cell, 5.0)
    oracle = neighbor_list(pos, cell, 5.0)
    assert _edges(*fast) == _edges(*oracle)
    assert fast[0].shape[1] > 0


def test_energy_forces_match_sevennet_calculator(seven) -> None:
    from ase import Atoms
    from sevenn.calculator import SevenNetCalculator

    pos, cell, z = _nacl()
    g = crystal_graph(pos, cell, z, seven.cutoff)
    e, f = energy_and_forces(seven, g)
    atoms = Atoms(numbers=z.numpy(), positions=pos.numpy(), cell=cell.numpy(), pbc=True)
    atoms.calc = SevenNetCalculator("7net-0", device="cpu")
    assert float(e.detach()[0]) == pytest.approx(atoms.get_potential_energy(), abs=1e-4)
    np.testing.assert_allclose(f.detach().numpy(), atoms.get_forces(), atol=1e-4)


def test_hessian_rows_central_differences_and_asr(seven) -> None:
    pos, cell, z = _nacl()
    g = crystal_graph(pos, cell, z, seven.cutoff)
    rows = hessian_rows(seven, g, [0, 5], method="loop")
    fd = finite_difference_rows(seven, g, [0, 5], step_a=1e-3)
    scale = float(rows.abs().max())
    assert scale > 0.5  # a real, stiff crystal: Phi_ii of NaCl is ~1-2 eV/A^2
    assert float((rows - fd).abs().max()) < 1e-4 * max(1.0, scale)
    assert float(rows.sum(dim=1).abs().max()) < 1e-9  # acoustic sum rule (translations)


def _rows(model, pos, cell, z, atoms=(0, 4)) -> torch.Tensor:
    g = crystal_graph(pos, cell, z, model.cutoff)
    return hessian_rows(model, g, list(atoms), method="loop").detach()


def test_index_symmetry_and_rotation_equivariance(seven) -> None:
    pos, cell, z = _nacl()
    h = _rows(seven, pos, cell, z)  # rows of atoms 0 (Na) and 4 (Cl)
    assert float((h[0, 0] - h[0, 0].T).abs().max()) < 1e-9
    assert float((h[0, 4] - h[1, 0].T).abs().max()) < 1e-9  # Phi_04 = Phi_40^T
    rot = torch.tensor(
        [[0.36, 0.48, -0.8], [-0.8, 0.6, 0.0], [0.48, 0.64, 0.6]], dtype=pos.dtype
    )  # proper rotation, det +1
    hr = _rows(seven, pos @ rot.T, cell @ rot.T, z)
    expect = torch.einsum("ab,ijbc,dc->ijad", rot, h, rot)
    assert float((hr - expect).abs().max()) < 1e-6 * float(h.abs().max())


def test_mirror_breaking_is_small(seven) -> None:
    """SevenNet-0 is built with SO(3) (not O(3)) parity: a mirror image changes its Hessian
    slightly (measured ~1.4e-4 relative). Rows from mirror operations are therefore not exact;
    ``mode='primitive'`` (translations only) is.
    """
    pos, cell, z = _nacl()
    h = _rows(seven, pos, cell, z)
    mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=pos.dtype))
    hm = _rows(seven, pos @ mirror, cell @ mirror, z)
    expect = torch.einsum("ab,ijbc,dc->ijad", mirror, h, mirror)
    rel = float((hm - expect).abs().max()) / float(h.abs().max())
    assert 1e-7 < rel < 1e-3


def test_symmetry_expansion_agrees_with_translations(seven) -> None:
    ph = rocksalt_phonopy(a=5.64, dim=1)
    sc = ph.supercell
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64)  # noqa: E731
    g = crystal_graph(t(sc.positions), t(sc.cell), torch.as_tensor(sc.numbers), seven.cutoff)
    prim = force_constants(seven, g, ph, mode="primitive", compact=False)  # translations
    indep = force_constants(seven, g, ph, mode="independent", compact=False)  # + rotations
    assert np.abs(prim).max() > 0.5
    np.testing.assert_allclose(indep, prim, atol=1e-3)  # mirrors: SO(3) model, ~1e-4


POSCAR_NACL = """NaCl primitive
1.0
0.0 2.82 2.82
2.82 0.0 2.82
2.82 2.82 0.0
Na Cl
1 1
Direct
0.0 0.0 0.0
0.5 0.5 0.5
"""


def test_cli_predict_with_backbone_needs_no_training(tmp_path) -> None:
    from click.testing import CliRunner

    from fcpredict.cli import cli
    from fcpredict.phonopy_io import load_phonopy

    poscar = tmp_path / "POSCAR"
    poscar.write_text(POSCAR_NACL)
    out = tmp_path / "pred" / "FORCE_CONSTANTS"
    args = ["predict", str(poscar), "--dim", "1 1 1", "-o", str(out)]
    r = CliRunner().invoke(cli, [*args, "--backbone", "sevennet-0"])
    assert r.exit_code == 0, r.output
    ph = load_phonopy(out.parent)
    fc = np.asarray(ph.force_constants)
    assert fc.shape == (2, 2, 3, 3)
    assert np.abs(fc.sum(axis=1)).max() < 1e-8  # acoustic sum rule
    assert 0.5 < fc[0, 0, 0, 0] < 5.0  # Na on-site stiffness, eV/A^2
    r = CliRunner().invoke(cli, args)  # neither --checkpoint nor --backbone
    assert r.exit_code != 0 and "--backbone" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_hessian_is_linear_in_the_per_species_scales() -> None:
    """E = sum_i s_{Z_i} e_i: the Hessian of Na's and of Cl's scaled energies add up to the
    whole (bench/fcpredict_softening.py relies on it), and doubling one scale doubles its part.
    """
    from fcpredict.backbones import load_backbone

    model = load_backbone("sevennet-0")  # own copy: the scales are edited in place
    pos, cell, z = _nacl()
    scale = model.net.rescale_atomic_energy.scale
    s0 = scale.detach().clone()
    na, cl = int(model.z_to_type[11]), int(model.z_to_type[17])

    def rows_with(s_na: float, s_cl: float) -> torch.Tensor:
        with torch.no_grad():
            scale.zero_()
            scale[na], scale[cl] = s_na * s0[na], s_cl * s0[cl]
        return _rows(model, pos, cell, z)

    whole, part_na, part_cl = rows_with(1, 1), rows_with(1, 0), rows_with(0, 1)
    assert float(part_na.abs().max()) > 0.05 * float(whole.abs().max())  # both parts matter
    assert float(part_cl.abs().max()) > 0.05 * float(whole.abs().max())
    assert torch.allclose(part_na + part_cl, whole, atol=1e-10)
    assert torch.allclose(rows_with(2, 1), whole + part_na, atol=1e-10)


# The other SevenNet checkpoints of the wheel through the same wrapper (8-atom cell: fast).
OTHERS = [
    ("sevennet-l3i5", "7net-l3i5", None),
    ("sevennet-mf-0", "7net-mf-0", "PBE"),
    ("sevennet-mf-0-r2scan", "7net-mf-0", "R2SCAN"),
    ("sevennet-0-22may2024", "7net-0_22may2024", None),
]


@pytest.fixture(scope="module", params=OTHERS, ids=[o[0] for o in OTHERS])
def other(request):
    from fcpredict.backbones import load_backbone

    name, ckpt, modal = request.param
    return load_backbone(name), ckpt, modal


def test_other_backbones_match_calculator_and_central_differences(other) -> None:
    from ase import Atoms
    from sevenn.calculator import SevenNetCalculator

    model, ckpt, modal = other
    pos, cell, z = _nacl()
    g = crystal_graph(pos, cell, z, model.cutoff)
    e, f = energy_and_forces(model, g)
    atoms = Atoms(numbers=z.numpy(), positions=pos.numpy(), cell=cell.numpy(), pbc=True)
    atoms.calc = SevenNetCalculator(ckpt, device="cpu", modal=modal)
    assert float(e.detach()[0]) == pytest.approx(atoms.get_potential_energy(), abs=1e-4)
    np.testing.assert_allclose(f.detach().numpy(), atoms.get_forces(), atol=1e-4)
    rows = hessian_rows(model, g, [0, 5], method="loop").detach()
    fd = finite_difference_rows(model, g, [0, 5], step_a=1e-3)
    scale = float(rows.abs().max())
    assert scale > 0.5
    assert float((rows - fd).abs().max()) < 1e-4 * max(1.0, scale)
    assert float(rows.sum(dim=1).abs().max()) < 1e-9  # acoustic sum rule
    h = _rows(model, pos, cell, z)  # atoms 0 (Na) and 4 (Cl)
    assert float((h[0, 0] - h[0, 0].T).abs().max()) < 1e-9
    assert float((h[0, 4] - h[1, 0].T).abs().max()) < 1e-9  # Phi_04 = Phi_40^T


def test_multi_fidelity_head_is_required_and_single_fidelity_refuses_one() -> None:
    from fcpredict.backbones.sevennet import SevenNetEnergy

    with pytest.raises(ValueError, match="fidelity head"):
        SevenNetEnergy("7net-mf-0")
    with pytest.raises(ValueError, match="single fidelity"):
        SevenNetEnergy("7net-0", modal="PBE")


@pytest.mark.parametrize("name", ["sevennet-l3i5", "sevennet-mf-0"])
def test_cli_predict_other_backbones(tmp_path, name: str) -> None:
    from click.testing import CliRunner

    from fcpredict.cli import cli
    from fcpredict.phonopy_io import load_phonopy

    poscar = tmp_path / "POSCAR"
    poscar.write_text(POSCAR_NACL)
    out = tmp_path / "pred" / "FORCE_CONSTANTS"
    args = ["predict", str(poscar), "--dim", "1 1 1", "-o", str(out), "--backbone", name]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    fc = np.asarray(load_phonopy(out.parent).force_constants)
    assert fc.shape == (2, 2, 3, 3)
    assert np.abs(fc.sum(axis=1)).max() < 1e-8
    assert 0.5 < fc[0, 0, 0, 0] < 5.0


def test_backbone_names_and_aliases_agree_with_the_cli() -> None:
    """Every alias names the same backbone, and --backbone offers exactly BACKBONES."""
    from common.errors import UserError
    from fcpredict.backbones import BACKBONES, canonical_backbone
    from fcpredict.cli import _BACKBONES

    assert tuple(_BACKBONES.choices) == BACKBONES
    pairs = {"SevenNet": "sevennet-0", "7net-0": "sevennet-0", "7net-l3i5": "sevennet-l3i5",
             "7net-mf-0": "sevennet-mf-0", "7net-0_22May2024": "sevennet-0-22may2024"}  # fmt: skip
    for alias, name in {**pairs, **{b: b for b in BACKBONES}}.items():
        assert canonical_backbone(alias) == name
    with pytest.raises(UserError, match="unknown backbone 'mace'"):
        canonical_backbone("mace")


def test_predict_help_lists_every_backbone() -> None:
    from click.testing import CliRunner

    from fcpredict.backbones import BACKBONES
    from fcpredict.cli import cli

    r = CliRunner().invoke(cli, ["predict", "--help"])
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    for name in BACKBONES:
        assert name in text


def test_fidelity_heads_of_sevennet_mf_0_differ() -> None:
    """The r2SCAN head is a different energy from the PBE head (the fidelity input is used)."""
    from fcpredict.backbones import load_backbone

    pos, cell, z = _nacl()
    pbe, r2 = (
        _rows(load_backbone(b), pos, cell, z) for b in ("sevennet-mf-0", "sevennet-mf-0-r2scan")
    )
    assert float((pbe - r2).abs().max()) > 1e-3 * float(pbe.abs().max())
