"""Ray batching: a detector patch renders exactly the same pixels of the whole view, and a
training step on patches compares each patch with the same pixels of the measurement.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from physx4dct.config import Config
from physx4dct.geometry import ConeGeometry, crop_detector, pixel_rays
from physx4dct.projector import covariance_from, raymarch, splat_view
from physx4dct.steps import _patch

GEO = ConeGeometry(
    nDetector=(40, 36), dDetector=(12.0, 14.0), nVoxel=(16, 16, 16), dVoxel=(20.0, 20.0, 20.0)
)


def _cloud(n: int = 300, seed: int = 0):
    """Gaussians over the whole volume (footprints cross the patch borders), a few of them
    wider than `EXACT_ABOVE` (the exact per-ray path)."""
    g = torch.Generator().manual_seed(seed)
    means = (torch.rand(n, 3, generator=g) * 1.8 - 0.9).double()
    log_scale = torch.log(torch.rand(n, 3, generator=g) * 0.06 + 0.01).double()
    log_scale[:5] = torch.log(torch.tensor(0.12, dtype=torch.float64))
    quat = torch.randn(n, 4, generator=g).double()
    density = (torch.rand(n, generator=g) + 0.5).double()
    return means, covariance_from(log_scale, quat), density


@pytest.mark.parametrize("patch", [(0, 0, 16, 16), (7, 11, 20, 13), (24, 20, 16, 16)])
def test_patch_render_equals_the_same_pixels_of_the_whole_view(patch):
    row, col, h, w = patch
    means, cov, dens = _cloud()
    angle = torch.tensor(0.83, dtype=torch.float64)
    full = splat_view(GEO, angle, means, cov, dens)
    part = splat_view(crop_detector(GEO, row, col, h, w), angle, means, cov, dens)
    ref = full[row : row + h, col : col + w]
    assert part.shape == (h, w)
    assert float((part - ref).abs().max()) <= 1e-9 * float(full.abs().max())


def test_patch_geometry_has_the_same_rays():
    sub = crop_detector(GEO, 5, 9, 8, 12)
    o, d = pixel_rays(GEO, torch.tensor([0.4], dtype=torch.float64))
    o2, d2 = pixel_rays(sub, torch.tensor([0.4], dtype=torch.float64))
    torch.testing.assert_close(d2[0], d[0, 5:13, 9:21])
    torch.testing.assert_close(o2[0], o[0, 5:13, 9:21])
    vol = torch.rand(16, 16, 16, dtype=torch.float64)
    whole = raymarch(GEO, vol, torch.tensor([0.4], dtype=torch.float64))
    torch.testing.assert_close(
        raymarch(sub, vol, torch.tensor([0.4]).double()), whole[:, 5:13, 9:21]
    )
    with pytest.raises(ValueError, match="outside"):
        crop_detector(GEO, 35, 0, 8, 8)


def test_patch_draw_and_whole_view_fallback():
    proj = torch.arange(40 * 36, dtype=torch.float64).reshape(40, 36)
    g = torch.Generator().manual_seed(3)
    for size in (0, 40, 64):
        geo, gt = _patch(GEO, proj, size, g)
        assert geo is GEO and gt is proj
    hits = torch.zeros(40, 36)
    for _ in range(400):
        geo, gt = _patch(GEO, proj, 10, g)
        assert geo.nDetector == (10, 10) and gt.shape == (10, 10)
        row, col = int(gt[0, 0]) // 36, int(gt[0, 0]) % 36
        assert geo == crop_detector(GEO, row, col, 10, 10)
        hits[row : row + 10, col : col + 10] += 1
    # tiles: every pixel is drawn, the edges as often as the centre (4 x 4 tiles of 10 on
    # 40 x 36, the last column shifted to 26: its overlap with the third is drawn twice)
    assert hits.min() > 0
    assert float(hits[:, :10].mean()) == pytest.approx(float(hits[:, 13:20].mean()), rel=0.35)


def test_patch_option_is_range_checked():
    with pytest.raises(ValueError, match="patch"):
        dataclasses.replace(Config().train, patch=-1)


def test_fit_on_patches(tiny_scan_path, tmp_path):
    """A 4D fit (periodic loss on) trains on 16^2 patches of the 32^2 views and is scored on
    whole validation views."""
    from common.config import load_config
    from physx4dct.config import PRESETS_DIR
    from physx4dct.train import fit

    over = {"train.iterations": 8, "train.coarse_iterations": 2, "train.eval_every": 8}
    over |= {"train.patch": 16, "loss.period_from": 0}
    cfg = load_config(Config, preset="tiny", presets_dir=PRESETS_DIR, overrides=over)
    metrics = fit(cfg, tmp_path / "run", data=tiny_scan_path)
    assert metrics["val_psnr"] > 10 and "periodic" in metrics
