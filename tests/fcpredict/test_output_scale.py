"""Output scale from the data: the untrained Hessian takes the magnitude of the reference."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from fc_helpers import TINY, rocksalt

from fcpredict.graph import batch_graphs
from fcpredict.hessian import hessian_rows
from fcpredict.model import build_model, calibrate_output_scale


def _sample(model, scale: float):
    pos, cell, z = rocksalt(rattle=0.05)
    z = torch.full_like(z, 14)  # one element: the energy is linear in its scale
    g = batch_graphs([(pos, cell, z)], cutoff=TINY.cutoff)
    rows = hessian_rows(model, g, [0, 4], method="loop").detach()
    return SimpleNamespace(graph=g, fc=scale * rows, p2s=[0, 4]), rows


def test_single_element_scale_is_recovered() -> None:
    torch.manual_seed(0)
    model = build_model(TINY).double().eval()
    sample, _ = _sample(model, -37.0)
    out = calibrate_output_scale(model, [sample])
    assert abs(out[14] + 37.0) < 1e-6 * 37.0  # magnitude and sign
    rows = hessian_rows(model, sample.graph, [0, 4], method="loop").detach()
    assert float((rows - sample.fc).abs().max()) < 1e-8 * float(sample.fc.abs().max())
    # unseen elements: the global ratio (stored in the model's dtype, so equal to round-off)
    assert float(model.out_scale[11]) == pytest.approx(out[14], rel=1e-12)


def test_two_elements_match_norms() -> None:
    torch.manual_seed(1)
    model = build_model(TINY).double().eval()
    pos, cell, z = rocksalt(rattle=0.05)
    g = batch_graphs([(pos, cell, z)], cutoff=TINY.cutoff)
    ref = 25.0 * hessian_rows(model, g, [0, 4], method="loop").detach()
    calibrate_output_scale(model, [SimpleNamespace(graph=g, fc=ref, p2s=[0, 4])], iterations=3)
    rows = hessian_rows(model, g, [0, 4], method="loop").detach()
    for k in range(2):  # each element's rows reach the reference norm
        assert abs(float(rows[k].norm() / ref[k].norm()) - 1.0) < 0.1
    assert calibrate_output_scale(model, [SimpleNamespace(graph=g, fc=None, p2s=[0])]) == {}
