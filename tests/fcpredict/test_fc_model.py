"""E(3) symmetry of the energy models: invariance of E, equivariance of F, incl. parity."""

from __future__ import annotations

import pytest
import torch
from e3nn import o3
from fc_helpers import TINY, rocksalt

from fcpredict.config import ModelConfig
from fcpredict.graph import batch_graphs
from fcpredict.hessian import energy_and_forces
from fcpredict.model import EquiformerEnergy, build_model


def _transformed(q: torch.Tensor, seed: int = 1):
    """The rattled cell with positions and lattice vectors mapped by the 3x3 matrix q."""
    pos, cell, num = rocksalt(rattle=0.1, seed=seed)
    shift = torch.tensor([0.3, -1.2, 0.7], dtype=torch.float64)
    return batch_graphs([(pos @ q.T + shift, cell @ q.T, num)], cutoff=TINY.cutoff)


def _ops() -> dict[str, torch.Tensor]:
    torch.manual_seed(3)
    rot = o3.rand_matrix(dtype=torch.float64)
    mirror = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    return {"rotation": rot, "mirror": mirror @ rot, "inversion": -torch.eye(3).double()}


@pytest.mark.parametrize("op", ["rotation", "mirror", "inversion"])
def test_energy_invariant_forces_equivariant(tiny_model, op: str) -> None:
    q = _ops()[op]
    e0, f0 = energy_and_forces(tiny_model, _transformed(torch.eye(3, dtype=torch.float64)))
    e1, f1 = energy_and_forces(tiny_model, _transformed(q))
    assert f0.abs().max() > 1e-4  # the test must be able to fail
    assert torch.allclose(e0, e1, atol=1e-10, rtol=0)
    assert torch.allclose(f0 @ q.T, f1, atol=1e-10, rtol=0)


def test_float32_equivariance_tolerance() -> None:
    torch.manual_seed(0)
    model = build_model(TINY).eval()
    q = _ops()["mirror"]
    g0, g1 = _transformed(torch.eye(3, dtype=torch.float64)), _transformed(q)
    e0, f0 = energy_and_forces(model, g0.to("cpu", torch.float32))
    e1, f1 = energy_and_forces(model, g1.to("cpu", torch.float32))
    assert torch.allclose(f0 @ q.float().T, f1, atol=1e-4)


def test_pseudovector_irreps_break_inversion() -> None:
    """The parity trap: with 1e (pseudo)vectors the model passes rotations, fails inversion."""
    torch.manual_seed(0)
    # a triple product (cross product, then dot) needs three message-passing layers
    cfg = ModelConfig(
        **{**TINY.__dict__, "irreps_node_embedding": "8x0e+4x1e+2x2e", "num_layers": 3}
    )
    model = EquiformerEnergy(cfg, irreps_sh="1x0e+1x1e+1x2e").double().eval()
    e0 = model(_transformed(torch.eye(3, dtype=torch.float64))).detach()
    e_rot = model(_transformed(_ops()["rotation"])).detach()
    e_inv = model(_transformed(_ops()["inversion"])).detach()
    assert abs(float(e0 - e_rot)) < 1e-10  # rotation test alone would pass
    assert abs(float(e0 - e_inv)) > 1e-8  # a chiral (pseudoscalar) energy term exists


def test_baseline_is_not_rotation_equivariant() -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(
        kind="transformer", hidden_dim=16, num_layers=1, num_heads=2, num_rbf=8, cutoff=TINY.cutoff
    )
    model = build_model(cfg).double().eval()
    e0 = model(_transformed(torch.eye(3, dtype=torch.float64))).detach()
    e1 = model(_transformed(_ops()["rotation"])).detach()
    assert abs(float(e0 - e1)) > 1e-9


def test_energy_smooth_at_cutoff(tiny_model) -> None:
    """Two atoms straddling the cutoff: E(r) continuous across r = cutoff."""
    cell = torch.eye(3, dtype=torch.float64) * 20.0
    es = []
    for r in (TINY.cutoff - 1e-6, TINY.cutoff + 1e-6):
        pos = torch.tensor([[0.0, 0, 0], [r, 0, 0]], dtype=torch.float64)
        es.append(tiny_model(batch_graphs([(pos, cell, torch.tensor([11, 17]))], TINY.cutoff)))
    assert abs(float((es[0] - es[1]).detach())) < 1e-9
