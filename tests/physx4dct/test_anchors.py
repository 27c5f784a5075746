"""Anchor field: FPS, KNN skinning, rebinding, masked modelling, no graph kept across steps."""

from __future__ import annotations

import pytest
import torch

from physx4dct.fusion import FusionConfig
from physx4dct.fusion.anchors import (
    AnchorField,
    farthest_point_sampling,
    knn_skinning,
)


def _cloud(n: int = 400, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, generator=gen) * 2 - 1


def _field(**kw) -> AnchorField:
    base = dict(
        num_anchors=32,
        anchor_k=4,
        transformer_dim=16,
        transformer_heads=2,
        transformer_layers=1,
        anchor_temperature=0.05,
    )
    base.update(kw)
    torch.manual_seed(0)
    return AnchorField(FusionConfig(fusion_mode="anchor", **base), _cloud())


def test_fps_spreads_over_clusters_and_is_distinct():
    a = torch.randn(200, 3) * 0.01
    b = torch.randn(200, 3) * 0.01 + 5.0
    idx = farthest_point_sampling(torch.cat([a, b]), 2)
    assert len(set(idx.tolist())) == 2
    assert (idx < 200).sum() == 1  # one anchor in each cluster
    idx = farthest_point_sampling(_cloud(), 64)
    assert len(set(idx.tolist())) == 64


def test_knn_weights_sum_to_one_and_pick_nearest():
    xyz, anchors = _cloud(300), _cloud(50, seed=1)
    idx, w = knn_skinning(xyz, anchors, k=5, temperature=0.02, chunk=64)
    assert idx.shape == (300, 5) and w.shape == (300, 5)
    torch.testing.assert_close(w.sum(1), torch.ones(300))
    assert (w >= 0).all()
    brute = torch.cdist(xyz, anchors).argsort(1)[:, :5]
    assert torch.equal(idx.sort(1).values, brute.sort(1).values)
    d = torch.cdist(xyz, anchors).gather(1, idx)
    order = d.argsort(1)
    assert (w.gather(1, order)[:, :-1] >= w.gather(1, order)[:, 1:] - 1e-7).all()


def test_displacement_is_weighted_sum_of_anchor_displacements():
    f = _field()
    torch.nn.init.normal_(f.head.weight, std=0.1)
    f.eval()
    xyz = _cloud()
    out = f(xyz, torch.tensor(0.4))
    manual = (out.anchor_dx[0][f.knn_idx] * f.knn_w[..., None]).sum(1)
    torch.testing.assert_close(out.dx, manual)
    assert out.dx.shape == (400, 3)
    # per-Gaussian times: each Gaussian uses the anchor motion at its own time
    t = torch.where(torch.arange(400) < 200, 0.2, 0.7).reshape(-1, 1)
    mixed = f(xyz, t).dx
    torch.testing.assert_close(mixed[:200], f(xyz[:200], torch.tensor(0.2)).dx[:200])


def test_rebind_after_densify_and_load_with_other_size():
    f = _field()
    xyz = _cloud()
    bigger = torch.cat([xyz, xyz[:50] + 0.01])
    f.rebind(bigger)
    assert f.knn_idx.shape == (450, 4)
    torch.testing.assert_close(f.knn_w.sum(1), torch.ones(450))
    state = f.state_dict()
    g = _field()  # bound to 400 Gaussians
    g.load_state_dict(state)
    assert torch.equal(g.knn_idx, f.knn_idx) and torch.equal(g.anchors, f.anchors)
    assert f(bigger[:300], torch.tensor(0.1)).dx.shape == (300, 3)  # auto-rebind on size change


def test_anchors_keep_no_graph_across_iterations():
    f = _field(phys_warmup_steps=0, lambda_anchor_time=0.1)
    xyz = torch.nn.Parameter(_cloud())
    opt = torch.optim.Adam(list(f.parameters()) + [xyz], lr=1e-2)
    for step in range(3):
        out = f(xyz, torch.tensor(0.1 * step), step)
        loss = out.dx.square().sum() - out.dx.sum() + sum(out.losses.values())
        opt.zero_grad()
        loss.backward()  # would raise if a graph of an earlier step were reused
        opt.step()
        f.rebind(xyz)
    for name in ("anchors", "knn_w", "knn_idx", "graph"):
        buf = getattr(f, name)
        assert not buf.requires_grad and buf.grad_fn is None, name
    assert not any(n.startswith("anchors") for n, _ in f.named_parameters())


def test_bert_mask_blocks_masked_token_content():
    f = _field()
    torch.nn.init.normal_(f.head.weight, std=0.1)
    times = torch.tensor([0.3])
    h = f.tokens(times).detach().requires_grad_(True)
    mask = f.draw_mask((1, 32), 0.25, step=5)
    assert int(mask.sum()) == 8
    assert torch.equal(mask, f.draw_mask((1, 32), 0.25, step=5))  # stateless in the step
    d, _ = f.encode(f.apply_bert_mask(h, mask))
    d.sum().backward()
    assert h.grad[mask].abs().max() == 0  # masked tokens' own content never enters
    assert h.grad[~mask].abs().max() > 0
    assert f.mask_token.grad.abs().max() > 0  # the mask path is the learnt token


def test_spatiotemporal_flag_is_the_only_mask_path():
    f = _field(st_mode=True, st_window_size=3, st_mask_ratio=0.3)
    torch.nn.init.normal_(f.head.weight, std=0.1)
    from physx4dct.fusion.anchors import st_tokens

    h = st_tokens(f, torch.tensor(0.5))
    assert h.shape == (1, 3 * 32, 16)
    mask = f.draw_mask(tuple(h.shape[:2]), 0.3, step=1)
    full, _ = f.encode(h)
    flagged, _ = f.encode(f.apply_flag_mask(h, mask))
    assert (flagged - full).abs().max() > 1e-6  # the flag changes the prediction ...
    with torch.no_grad():
        f.mask_flag.zero_()
    same, _ = f.encode(f.apply_flag_mask(h, mask))
    torch.testing.assert_close(same, full)  # ... and nothing else does
    torch.nn.init.normal_(f.mask_flag, std=0.5)
    f.train()
    out = f(_cloud(), torch.tensor(0.5), step=3)
    assert "lagbert" in out.losses and out.losses["lagbert"] > 0


@pytest.mark.parametrize("st_mode", [False, True])
def test_physics_loss_after_warmup_only(st_mode):
    f = _field(phys_warmup_steps=10, lambda_consist=0.0, st_mode=st_mode)
    torch.nn.init.normal_(f.head.weight, std=0.1)
    f.train()
    early = f(_cloud(), torch.tensor(0.5), step=3).losses
    late = f(_cloud(), torch.tensor(0.5), step=10).losses
    if st_mode:
        assert "lagbert" in early and "phys" not in late
    else:
        assert "phys" not in early and late["phys"] > 0
    f.eval()
    assert not f(_cloud(), torch.tensor(0.5), step=10).losses


def test_time_grid_starts_as_fourier_and_interpolates_linearly():
    """grid encoding: the code at the cell times equals the Fourier features it replaces,
    between cells it is the linear blend of its two neighbours, and it is trainable."""
    from physx4dct.fusion.anchors import fourier_features

    fld = _field(anchor_time_encoding="grid", anchor_time_cells=11)
    n_time = fld.n_time
    cells = torch.linspace(0, 1, 11)
    assert torch.allclose(fld.time_code(cells), fourier_features(cells[:, None], n_time), atol=1e-6)
    t = torch.tensor([0.25])  # between cells 2 (0.2) and 3 (0.3)
    want = 0.5 * fld.time_grid[2] + 0.5 * fld.time_grid[3]
    assert torch.allclose(fld.time_code(t)[0], want, atol=1e-6)
    assert torch.allclose(fld.time_code(torch.tensor([1.0, 1.5]))[1], fld.time_grid[-1])
    # a change of one cell moves the code only at times within one cell of it
    t = torch.tensor([0.05, 0.45, 0.5, 0.55, 0.95])
    before = fld.time_code(t).detach().clone()
    with torch.no_grad():
        fld.time_grid[5] += 1.0
    moved = (fld.time_code(t) - before).abs().amax(1) > 1e-3
    assert moved.tolist() == [False, True, True, True, False]
    groups = {g["name"]: g["params"] for g in fld.param_groups(1e-2)}
    assert groups["anchor_time_grid"] == [fld.time_grid]
    assert all(p is not fld.time_grid for p in fld.network_params())
    assert len(fld.network_params()) + 1 == len(list(fld.parameters()))
    assert [g["name"] for g in _field().param_groups(1e-2)] == ["anchor"]


def test_time_grid_gets_gradient_and_smoothness():
    fld = _field(anchor_time_encoding="grid", anchor_time_cells=20, lambda_time_grid=1.0)
    torch.nn.init.normal_(fld.head.weight, std=0.1)  # a non-zero head, so the grid sees gradient
    xyz = _cloud(100)
    out = fld(xyz, torch.tensor(0.33), step=0)
    assert "anchor_time_grid" in out.losses
    (out.dx.square().sum() + sum(out.losses.values())).backward()
    g = fld.time_grid.grad
    assert g is not None and g[6].abs().sum() > 0 and g[7].abs().sum() > 0
