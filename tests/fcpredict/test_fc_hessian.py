"""Exact force constants: symmetry, acoustic sum rule, row expansion, finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fc_helpers import TINY, rocksalt_phonopy, supercell_graph

from fcpredict.hessian import (
    asr_error,
    energy_and_forces,
    finite_difference_rows,
    force_constants,
    full_hessian,
    hessian_rows,
    index_symmetry_error,
    symmetrize_fc,
)


def test_full_hessian_symmetric_and_asr(tiny_model, rattled_graph) -> None:
    fc = full_hessian(tiny_model, rattled_graph).detach().numpy()
    assert np.abs(fc).max() > 1e-3  # non-trivial
    assert index_symmetry_error(fc) < 1e-10
    assert asr_error(fc) < 1e-10


def test_forces_sum_to_zero(tiny_model, rattled_graph) -> None:
    _, f = energy_and_forces(tiny_model, rattled_graph)
    assert f.abs().max() > 1e-4 and f.sum(0).abs().max() < 1e-12


def test_vmap_equals_loop(tiny_model, rattled_graph) -> None:
    a = hessian_rows(tiny_model, rattled_graph, [0, 5], method="vmap")
    b = hessian_rows(tiny_model, rattled_graph, [0, 5], method="loop")
    assert torch.allclose(a, b, atol=1e-12, rtol=0)


def test_finite_differences_agree(tiny_model, rattled_graph) -> None:
    exact = hessian_rows(tiny_model, rattled_graph, [1, 6]).detach()
    fd = finite_difference_rows(tiny_model, rattled_graph, [1, 6], step_a=1e-4)
    assert torch.allclose(exact, fd, atol=1e-6 * exact.abs().max().item(), rtol=0)


@pytest.mark.parametrize("mode", ["primitive", "independent"])
def test_row_expansion_equals_full_hessian(tiny_model, mode: str) -> None:
    phonon = rocksalt_phonopy(a=4.0)
    graph = supercell_graph(phonon, TINY.cutoff)
    full = full_hessian(tiny_model, graph).detach().numpy()
    fc = force_constants(tiny_model, graph, phonon, mode=mode, compact=False)
    assert np.abs(full).max() > 1e-3
    np.testing.assert_allclose(fc, full, atol=1e-10, rtol=0)
    compact = force_constants(tiny_model, graph, phonon, mode=mode, compact=True)
    assert compact.shape == (2, 8, 3, 3)
    np.testing.assert_allclose(compact, full[phonon.primitive.p2s_map], atol=1e-10, rtol=0)


def test_symmetrize_enforces_index_symmetry_and_asr() -> None:
    rng = np.random.default_rng(0)
    fc = rng.normal(size=(6, 6, 3, 3))
    out = symmetrize_fc(fc)
    assert index_symmetry_error(out) < 1e-10 and asr_error(out) < 1e-10
    assert index_symmetry_error(fc) > 0.1 and asr_error(fc) > 0.1


def test_symmetrize_is_an_orthogonal_projection() -> None:
    """Idempotent, leaves a valid fc unchanged, and the removed part is orthogonal to it."""
    rng = np.random.default_rng(1)
    fc = rng.normal(size=(5, 5, 3, 3))
    out = symmetrize_fc(fc)
    np.testing.assert_allclose(symmetrize_fc(out), out, atol=1e-12)
    assert abs(float(np.sum((fc - out) * out))) < 1e-9 * float(np.sum(out * out))
