"""The exact Hessian paths agree (loop, vmap, forward-over-reverse), and phonopy finite
displacements with the model's own forces approach the exact rows."""

from __future__ import annotations

import numpy as np
import torch
from fc_helpers import TINY, rocksalt_phonopy

from fcpredict.apply import finite_displacement_fc, predict_fc
from fcpredict.hessian import hessian_rows


def test_fwd_vmap_loop_agree(tiny_model, rattled_graph) -> None:
    a = hessian_rows(tiny_model, rattled_graph, [0, 5], method="loop")
    b = hessian_rows(tiny_model, rattled_graph, [0, 5], method="fwd")
    c = hessian_rows(tiny_model, rattled_graph, [0, 5], method="vmap")
    auto = hessian_rows(tiny_model, rattled_graph, [0, 5])
    assert float(a.abs().max()) > 1e-3
    for other in (b, c, auto):
        assert torch.allclose(a, other, atol=1e-12, rtol=0)


def test_finite_displacements_match_exact_rows(tiny_model) -> None:
    ph = rocksalt_phonopy(a=4.0, dim=1)
    exact = predict_fc(tiny_model, ph, TINY.cutoff)
    fd = finite_displacement_fc(tiny_model, ph, TINY.cutoff, distance=1e-3)
    assert fd.shape == exact.shape
    scale = np.abs(exact).max()
    assert scale > 1e-3
    assert np.abs(fd - exact).max() < 1e-3 * scale
