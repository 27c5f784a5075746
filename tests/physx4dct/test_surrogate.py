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
