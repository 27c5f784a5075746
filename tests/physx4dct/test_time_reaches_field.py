"""Each view's acquisition time reaches the deformation field in training (a diagnosis of
why a field of absolute time learns little motion from ~1 view per time cell)."""

from __future__ import annotations

import torch

from common.config import load_config
from physx4dct.config import PRESETS_DIR, Config
from physx4dct.data import read_scan
from physx4dct.steps import _step_loss, _to_device
from physx4dct.train import initial_model


def _cfg(**over) -> Config:
    base = {"train.coarse_iterations": 0, "loss.period": 0.0, "loss.tv": 0.0}
    return load_config(Config, preset="tiny", presets_dir=PRESETS_DIR, overrides={**base, **over})


def test_a_view_updates_only_the_time_cells_at_its_own_time(tiny_scan_path):
    scan = read_scan(tiny_scan_path)
    cfg = _cfg()
    model = initial_model(cfg, scan)
    hp = model.hexplane
    with torch.no_grad():  # a non-zero head, so the time planes receive a gradient
        hp.head_dx.weight.normal_(0.0, 0.1)
    data = _to_device(scan, torch.device("cpu"), torch.float32)
    gen = torch.Generator().manual_seed(3)
    j = int(torch.randint(0, data.proj.shape[0], (1,), generator=torch.Generator().manual_seed(3)))
    loss, _ = _step_loss(model, cfg, data, 0, gen, fine=True)
    loss.backward()
    res = cfg.hexplane.time_resolution
    cell = float(data.t[j]) * (res - 1)  # tau = 2 t - 1 spans the whole time axis
    time_plane = hp.planes[2]  # the (x, t) plane of the first level: (1, C, T, X)
    g = time_plane.grad.abs().sum((0, 1, 3))
    touched = torch.nonzero(g > 0).reshape(-1).tolist()
    # only the two cells around the view's time learn from it: with ~1 view per cell, each
    # breathing cycle of the scan is learnt on its own from a handful of single-angle views
    assert touched and all(abs(c - cell) <= 1.0 for c in touched), (touched, cell)
