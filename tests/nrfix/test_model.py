"""The network's identity at init, the projection and the conformal rescaling of A."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nrfix.config import ModelConfig
from nrfix.constraints import C_A, C_H, constraints, det_sym, inverse_sym, sym_to_full
from nrfix.data import generate
from nrfix.model import NRFixNet, project

BY = {"punctures": [{"m": 0.5, "pos": [0.1, 0.0, 0.2], "P": [0.2, 0.1, 0.0], "S": [0.0, 0.0, 0.2]}]}


@pytest.fixture(scope="module")
def by_batch() -> torch.Tensor:
    g = generate(
        "bowen_york",
        {**BY, "transform": {"eps": [0.05, 0.03, 0.04], "omega": 1.0}},
        (12, 12, 12),
        0.25,
        np.full(3, -1.4),
    )
    return torch.from_numpy(g.vars)[None]


def _small(**kw) -> ModelConfig:
    return ModelConfig(channels=4, blocks=1, **kw)


def test_zero_init_returns_input_exactly(by_batch):
    model = NRFixNet(_small(correct_vars=("all",)))
    assert torch.equal(model(by_batch), by_batch)


def test_projection_det_h_one_and_trace_free(by_batch):
    torch.manual_seed(0)
    model = NRFixNet(_small(correct_vars=("all",), scaling_factor=0.05))
    torch.nn.init.normal_(model.tail.weight, std=0.5)
    y = model(by_batch).detach()
    assert (y - by_batch).abs().max() > 1e-4  # the network really changed the data
    h = sym_to_full(y[:, C_H])
    assert (det_sym(h) - 1).abs().max() < 1e-12
    tr_a = torch.einsum("bij...,bij...->b...", inverse_sym(h), sym_to_full(y[:, C_A]))
    assert tr_a.abs().max() < 1e-12
    assert y[:, 0].min() > 0 and y[:, 18].min() > 0


def test_projection_repairs_gamed_data(by_batch):
    bad = by_batch.clone()
    bad[:, C_H] *= 1.1  # det h = 1.331
    bad[:, 0] = -0.5  # negative chi
    p = project(bad, 1e-4, 1e-4)
    assert (det_sym(sym_to_full(p[:, C_H])) - 1).abs().max() < 1e-12
    assert p[:, 0].min() >= 1e-4


def test_conformal_rescaling_keeps_mom(by_batch):
    torch.manual_seed(1)
    model = NRFixNet(_small(correct_vars=("chi",), scaling_factor=0.02))
    torch.nn.init.normal_(model.tail.weight, std=0.5)
    y = model(by_batch).detach()
    # Mom of BY data is truncation level; a chi-only change would create O(dchi) Mom unless
    # A is rescaled with it
    m0 = constraints(by_batch, 0.25)["Mom"].abs().max()
    m1 = constraints(y, 0.25)["Mom"].abs().max()
    assert (y[:, 0] - by_batch[:, 0]).abs().max() > 1e-3
    assert m1 < 3 * m0 + 1e-6


def test_shape_and_dtype_guards(by_batch):
    model = NRFixNet(_small())
    with pytest.raises(ValueError, match="expected"):
        model(by_batch[:, :24])
    with pytest.raises(TypeError, match="float64"):
        model(by_batch.float())
    with pytest.raises(ValueError, match="unknown variable"):
        NRFixNet(_small(correct_vars=("psi",)))
    with pytest.raises(ValueError, match="output_operator"):
        NRFixNet(_small(output_operator="fft"))


def test_dilated_blocks_keep_shape_and_cycle():
    """Block i uses dilations[i % len]; 'same' padding keeps the grid shape."""
    import torch

    from nrfix.config import ModelConfig
    from nrfix.model import NRFixNet

    net = NRFixNet(ModelConfig(channels=4, blocks=3, dilations=(1, 2)))
    assert [b.body[0].dilation for b in net.blocks] == [(1, 1, 1), (2, 2, 2), (1, 1, 1)]
    torch.nn.init.normal_(net.tail.weight, std=0.1)
    x = net.flat.expand(1, 25, 11, 11, 11).clone()
    assert net(x).shape == x.shape


def test_fast_cpu_convolution_matches_the_stock_path():
    """Inference goes through oneDNN (Conv3dSame); it must equal the autograd path."""
    torch.manual_seed(0)
    net = NRFixNet(ModelConfig(channels=6, blocks=1, compute_dtype="float32", dilations=(2,)))
    for p in net.tail.parameters():
        torch.nn.init.normal_(p, std=0.1)
    x = 1.0 + 0.01 * torch.randn(1, 25, 12, 11, 10, dtype=torch.float64)
    with torch.no_grad():
        fast = net.residual(x)
    slow = net.residual(x)  # grad enabled, weights require grad: stock Conv3d
    assert slow.requires_grad
    assert torch.allclose(fast, slow.detach(), rtol=1e-4, atol=1e-6)
