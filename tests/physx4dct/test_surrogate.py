"""Respiratory surrogate from the projections, and the anchors it drives."""

from __future__ import annotations

import numpy as np
import torch

from physx4dct.data import read_scan
from physx4dct.fusion import FusionConfig, build_deformation
from physx4dct.surrogate import GRID, extract_surrogate, surrogate_on_grid


def _true_d(scan, times):
    return np.interp(times, scan.breathing["time"], scan.breathing["signal"])


def test_surrogate_follows_the_breathing_trace_and_can_fail(tiny_scan_path):
    scan = read_scan(tiny_scan_path)
    tr = scan.train
    sur = extract_surrogate(tr.projections, tr.angles, tr.time_s)
    corr = np.corrcoef(sur.signal, _true_d(scan, sur.times_s))[0, 1]
    assert corr > 0.85, corr  # sign convention: dwells near 1 like the phantom's trace
    assert (
        abs(np.percentile(sur.signal, 5)) < 1e-9 and abs(np.percentile(sur.signal, 95) - 1) < 1e-9
    )
    # the same projections with their times shuffled carry no breathing signal in time order
    perm = np.random.default_rng(0).permutation(len(tr.time_s))
    bad = extract_surrogate(tr.projections[perm], tr.angles[perm], tr.time_s)
    assert abs(np.corrcoef(bad.signal, _true_d(scan, bad.times_s))[0, 1]) < 0.6
    grid = surrogate_on_grid(sur, scan.scan_s)
    assert grid.shape == (2, GRID) and np.isfinite(grid).all()


def test_surrogate_field_is_linear_in_the_signal_and_learns_a_loop():
    xyz = torch.rand(200, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    cfg = FusionConfig(fusion_mode="surrogate", num_anchors=16, anchor_k=4, anchor_temperature=0.1)
    field = build_deformation(cfg, None, xyz)
    g = torch.linspace(0, 1, GRID)
    s, v = torch.sin(np.pi * 4 * g) ** 2, torch.sin(np.pi * 8 * g)
    field.set_surrogate(torch.stack([s, v / v.std()]))
    # target: a superior-inferior line plus an anterior-posterior loop (hysteresis)
    direction = torch.tensor([0.0, 0.0, -0.1])

    def target(t: float) -> torch.Tensor:
        sig = field.signal_at(torch.tensor([t]))[0]
        return sig[0] * direction + sig[1] * torch.tensor([0.0, 0.03, 0.0])

    opt = torch.optim.Adam(field.param_groups(0.0)[0]["params"], lr=0.01)
    for step in range(150):
        t = (step * 0.137) % 1.0
        loss = (field(xyz, torch.tensor(t)).dx - target(t)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    for t in (0.05, 0.3, 0.62):
        assert (field(xyz, torch.tensor(t)).dx - target(t)).abs().max() < 5e-3
    off = FusionConfig(**{**cfg.__dict__, "surrogate_hysteresis": False})
    field_off = build_deformation(off, None, xyz)
    field_off.set_surrogate(torch.stack([s, v / v.std()]))
    assert field_off.signal_at(torch.tensor([0.3]))[0, 1] == 0.0


def test_centred_surrogate_is_still_at_the_time_averaged_anatomy():
    """With surrogate_centre the motion averaged over the scan is zero (the canonical cloud is
    the time-averaged anatomy of the coarse stage); without it, it is s-bar times A."""
    xyz = torch.rand(100, 3, generator=torch.Generator().manual_seed(1)) * 2 - 1
    g = torch.linspace(0, 1, GRID)
    s = torch.sin(np.pi * 4 * g) ** 2
    v = torch.sin(np.pi * 8 * g)
    mean_dx = {}
    for centre in (False, True):
        cfg = FusionConfig(
            fusion_mode="surrogate", num_anchors=8, anchor_k=4, surrogate_centre=centre
        )
        field = build_deformation(cfg, None, xyz)
        field.set_surrogate(torch.stack([s, v / v.std()]))
        with torch.no_grad():
            field.coef.normal_(generator=torch.Generator().manual_seed(2))
        mean_dx[centre] = field.displacements(g).mean(0)
    assert mean_dx[True].abs().max() < 1e-5
    assert mean_dx[False].abs().max() > 0.1


def test_surrogate_residual_adds_the_hexplane_field_and_both_train(tiny_scan_path, tmp_path):
    """surrogate_residual: dx = surrogate motion + HexPlane output, the HexPlane groups are in
    the optimizer (their smoothness losses too), and a checkpoint rebuilds the same model."""
    from physx4dct.config import HexPlaneConfig
    from physx4dct.deformation import HexPlaneField

    xyz = torch.rand(64, 3, generator=torch.Generator().manual_seed(3)) * 2 - 1
    g = torch.linspace(0, 1, GRID)
    sig = torch.stack([torch.sin(np.pi * 4 * g) ** 2, torch.cos(np.pi * 4 * g)])
    hexplane = HexPlaneField(HexPlaneConfig(channels=4, resolution=8, time_resolution=8))
    with torch.no_grad():
        for p in hexplane.parameters():
            p.normal_(generator=torch.Generator().manual_seed(4))
    fields = {}
    for residual in (False, True):
        cfg = FusionConfig(
            fusion_mode="surrogate", num_anchors=8, anchor_k=4, surrogate_residual=residual
        )
        fields[residual] = build_deformation(cfg, hexplane, xyz)
        fields[residual].set_surrogate(sig)
        with torch.no_grad():
            fields[residual].coef.normal_(generator=torch.Generator().manual_seed(5))
    t = torch.tensor(0.37)
    with torch.no_grad():
        both, alone, hex_out = fields[True](xyz, t), fields[False](xyz, t), hexplane(xyz, t)
    assert hex_out.dx.abs().max() > 1e-3 and alone.dx.abs().max() > 1e-3
    torch.testing.assert_close(both.dx, alone.dx + hex_out.dx)
    assert alone.dscale is None and torch.equal(both.dscale, hex_out.dscale)
    names = [grp["name"] for grp in fields[True].param_groups(1e-3)]
    assert names == ["surrogate", "hexplane_grid", "hexplane_mlp"]

    model = _tiny_surrogate_fit(tiny_scan_path, tmp_path, {"fusion.surrogate_residual": True})
    assert model.hexplane is not None and model.deformation.residual is model.hexplane
    assert model.deformation.coef.abs().max() > 0  # the surrogate motion trained
    head = list(model.hexplane.head_dx.parameters())  # starts at zero (identity motion)
    assert max(float(p.detach().abs().max()) for p in head) > 0  # ... and the HexPlane residual


def test_signal_refinement_recovers_a_wrong_signal(tiny_scan_path, tmp_path):
    """surrogate_refine_lr > 0 learns a correction of s on the time grid: with the anchors'
    motion fixed, fitting the displacement of a true signal from a wrong one moves s to the
    true signal (off: no parameter, the stored signal is used as is); a fit trains it and a
    checkpoint rebuilds it."""

    xyz = torch.rand(64, 3, generator=torch.Generator().manual_seed(3)) * 2 - 1
    g = torch.linspace(0, 1, GRID, dtype=torch.float64)
    true = torch.sin(np.pi * 4 * g) ** 2
    wrong = (0.6 * true + 0.2 + 0.1 * torch.sin(np.pi * 11 * g)).to(torch.float64)
    base = dict(fusion_mode="surrogate", num_anchors=8, anchor_k=4, surrogate_hysteresis=False)
    off = build_deformation(FusionConfig(**base), None, xyz.double())
    assert off.refine is None and [p["name"] for p in off.param_groups(1e-3)] == ["surrogate"]
    field = build_deformation(FusionConfig(**base, surrogate_refine_lr=0.01), None, xyz.double())
    field.set_surrogate(torch.stack([wrong, torch.zeros_like(g)]))
    with torch.no_grad():
        field.coef.normal_(generator=torch.Generator().manual_seed(5))
    coef = field.coef.detach().clone()
    target = torch.einsum("t,md->tmd", true, coef[:, 0])
    opt = torch.optim.Adam([field.refine], lr=0.01)
    for _ in range(400):
        opt.zero_grad()
        loss = (field.displacements(g) - target).square().mean()
        loss.backward()
        opt.step()
    err = (field.signal_grid()[0] - true).abs().max()
    assert err < 0.02, f"refined signal off by {err:.3f}"
    assert (wrong - true).abs().max() > 0.25  # the fit had something to correct

    model = _tiny_surrogate_fit(tiny_scan_path, tmp_path, {"fusion.surrogate_refine_lr": 0.01})
    assert model.deformation.refine is not None
    assert model.deformation.refine.detach().abs().max() > 0  # the signal correction trained


def _tiny_surrogate_fit(scan_path, tmp_path, extra: dict):
    """A surrogate-mode fit of 8 iterations on the tiny scan, loaded back from last.pt."""
    from common.config import load_config
    from physx4dct.config import PRESETS_DIR, Config
    from physx4dct.train import fit, load_model

    over = {
        "train.iterations": 8,
        "train.coarse_iterations": 2,
        "train.ckpt_every": 8,
        "train.eval_every": 8,
        "fusion.fusion_mode": "surrogate",
        "fusion.num_anchors": 16,
        **extra,
    }
    cfg = load_config(Config, preset="tiny", presets_dir=PRESETS_DIR, overrides=over)
    fit(cfg, tmp_path / "run", data=scan_path)
    return load_model(tmp_path / "run" / "checkpoints" / "last.pt")[0]
