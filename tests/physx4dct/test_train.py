"""Training: exact resume, SIGTERM handling, densification, and the learned breathing period."""

from __future__ import annotations

import math
import os
import signal
import threading

import pytest
import torch
from torch import nn

import physx4dct.train
from common.checkpoint import load_checkpoint
from common.config import load_config
from physx4dct.config import PRESETS_DIR, Config
from physx4dct.data import read_scan
from physx4dct.deformation import DeformOut
from physx4dct.model import Model4D
from physx4dct.train import _periodic_loss, _to_device, fit, initial_model, render_projection
from tests.common.progress_probe import record_progress_starts


def _cfg(**overrides) -> Config:
    base = {
        "train.iterations": 14,
        "train.coarse_iterations": 4,
        "train.ckpt_every": 8,
        "train.eval_every": 7,
        "train.log_every": 2,
        "gaussians.densify_from": 2,
        "gaussians.densify_until": 12,
        "gaussians.densify_every": 4,
        "gaussians.densify_grad": 1e-5,
    }
    base.update(overrides)
    return load_config(Config, preset="tiny", presets_dir=PRESETS_DIR, overrides=base)


def _params(path):
    return {k: v for k, v in load_checkpoint(path)["model"].items()}


def test_resume_is_exact(tiny_scan_path, tmp_path, monkeypatch):
    cfg = _cfg()
    full = tmp_path / "full"
    fit(cfg, full, data=tiny_scan_path)
    part = tmp_path / "part"
    fit(cfg, part, data=tiny_scan_path, stop_after=5)  # interrupted between checkpoints
    saved = load_checkpoint(part / "checkpoints" / "last.pt")
    before = saved["extra"]["elapsed_s"]
    starts = record_progress_starts(monkeypatch, physx4dct.train)
    metrics = fit(cfg, part, data=tiny_scan_path, resume=True)
    assert metrics["elapsed_s"] > before > 0  # the wall time adds up over the resume
    assert starts == [saved["step"]] and starts[0] > 0  # it/s and ETA count only new steps
    a, b = _params(full / "checkpoints" / "last.pt"), _params(part / "checkpoints" / "last.pt")
    assert a.keys() == b.keys()
    assert a["cloud.xyz"].shape[0] != cfg.gaussians.n_init  # densification happened
    for k in a:
        assert torch.equal(a[k], b[k]), k

    def steps(run):
        return [line.split(",")[0] for line in (run / "metrics.jsonl").read_text().splitlines()]

    assert steps(part) == steps(full)


def test_sigterm_saves_last_and_exits_nonzero(tiny_scan_path, tmp_path):
    cfg = _cfg(**{"train.iterations": 100000, "train.ckpt_every": 100000})
    timer = threading.Timer(4.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        with pytest.raises(SystemExit) as info:
            fit(cfg, tmp_path / "run", data=tiny_scan_path)
    finally:
        timer.cancel()
    assert info.value.code != 0
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert 0 < ckpt["step"] < 100000
    assert ckpt["config"]["train"]["iterations"] == 100000


class _Breathing(nn.Module):
    """A known periodic motion: the cloud moves 0.08 (scene units) in z with period P."""

    def __init__(self, period_s: float, scan_s: float) -> None:
        super().__init__()
        self.period, self.scan = period_s, scan_s

    def forward(self, xyz, t, step=0):
        phase = t * self.scan / self.period
        dz = 0.08 * (1 - torch.cos(math.pi * phase) ** 4)
        dx = torch.zeros_like(xyz)
        dx[:, 2] = dz
        return DeformOut(dx=dx, dscale=None, drot=None)


def test_learned_period_converges_from_10_percent_off(tiny_scan_path):
    """SSRML: with a periodic motion, minimising L(render(t + T), I(t)) over tau alone brings
    T = exp(tau) from 10 % off to within 5 % (here to ~1 %) of the true period."""
    scan = read_scan(tiny_scan_path)
    cfg = _cfg(**{"model": "static", "train.period_init_s": 4.4})
    model = initial_model(cfg, scan)
    field = _Breathing(4.0, scan.scan_s)
    model = Model4D(model.cloud, None, field, 4.4, scan.scan_s)
    data = _to_device(scan, torch.device("cpu"), torch.float32)
    with torch.no_grad():
        data.proj = torch.stack(
            [render_projection(model, scan.geo, a, t)[0] for a, t in zip(data.angles, data.t)]
        )
    opt = torch.optim.Adam([model.tau], lr=0.01)
    for step in range(80):
        opt.zero_grad()
        _periodic_loss(model, cfg, data, torch.tensor(step % len(data.t)), 0, {}).backward()
        opt.step()
    assert abs(float(model.period_s().detach()) / 4.0 - 1) < 0.05


class _Shrink(nn.Module):
    """A scale head gone wild: shrinks every Gaussian by e^-30 (long fits did e^-13)."""

    def forward(self, xyz, t, step=0):
        return DeformOut(dx=torch.zeros_like(xyz), dscale=torch.full_like(xyz, -30.0), drot=None)


def test_deformed_scales_are_floored_so_the_voxelizer_never_sees_a_needle(tiny_scan_path):
    """gaussians.min_scale_vox floors every deformed std (here at 0.05 voxel): the covariance
    stays invertible in float32 and the TV sub-volume voxelizes; without the floor the
    covariance is a needle (eigenvalues e^-60)."""
    from physx4dct.voxelizer import random_subgrid, voxelize

    scan = read_scan(tiny_scan_path)
    cfg = _cfg(**{"model": "static"})
    cloud = initial_model(cfg, scan).cloud
    floor = cfg.gaussians.min_scale_vox * scan.geo.voxel
    floored = Model4D(cloud, None, _Shrink(), 4.0, scan.scan_s, min_scale=floor)
    means, cov, dens, _ = floored.gaussians_at(torch.tensor(0.3))
    eig = torch.linalg.eigvalsh(cov.detach().double())
    assert eig.min() >= floor**2 * (1 - 1e-3) and eig.max() <= (1.001 * floor) ** 2
    sub, _ = random_subgrid(scan.geo, 8, torch.Generator().manual_seed(0))
    assert torch.isfinite(voxelize(means, cov, dens, sub)).all()
    bare = Model4D(cloud, None, _Shrink(), 4.0, scan.scan_s)
    cov0 = bare.gaussians_at(torch.tensor(0.3))[1].detach()
    assert float(torch.linalg.eigvalsh(cov0.double()).max()) < 1e-20  # a needle: exp(-60)
