"""A model is voxelised as the ground truth is sampled (`evaluate.model_volume`)."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from physx4dct.data import block_mean, fine_geometry
from physx4dct.evaluate import model_volume
from physx4dct.geometry import ConeGeometry
from physx4dct.voxelizer import full_grid, voxelize

GEO = ConeGeometry(nVoxel=(12, 12, 12), dVoxel=(10.0, 10.0, 10.0))


class _Mixture:
    """A fixed Gaussian mixture standing in for a trained static model."""

    def __init__(self, sigma_vox: float, n: int = 24, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        step = torch.tensor(full_grid(GEO).step, dtype=torch.float64)
        half = torch.tensor(GEO.half_extent, dtype=torch.float64)
        self.means = (torch.rand(n, 3, generator=g, dtype=torch.float64) * 1.2 - 0.6) * half
        self.cov = torch.diag_embed((sigma_vox * step).pow(2).expand(n, 3).clone())
        self.dens = 0.2 + torch.rand(n, generator=g, dtype=torch.float64)
        self.cloud = SimpleNamespace(xyz=self.means)

    def gaussians_at(self, t):
        return self.means, self.cov, self.dens, None


def _scan(meta: dict) -> SimpleNamespace:
    return SimpleNamespace(geo=GEO, scan_s=60.0, meta=meta, volume_time_s=None)


def _truth(model: _Mixture, k: int) -> torch.Tensor:
    """What `data.truth_volumes` does with a phantom: sample k times finer, block-average."""
    fine = full_grid(fine_geometry(GEO, k))
    return block_mean(voxelize(model.means, model.cov, model.dens, fine), k)


def test_a_perfect_sharp_model_scores_perfectly_only_when_sampled_like_the_truth():
    model = _Mixture(sigma_vox=0.3)  # sharper than a scoring voxel
    truth = _truth(model, 2)
    peak = truth.abs().max()
    same = model_volume(model, _scan({"oversample": 2}), None)
    assert (same - truth).abs().max() <= 1e-9 * peak
    centre = model_volume(model, _scan({"oversample": 2}), None, oversample=1)
    assert (centre - truth).abs().max() > 0.05 * peak  # one point per voxel is not the truth


def test_wide_models_and_external_scans():
    model = _Mixture(sigma_vox=3.0)  # smooth: the sampling rule hardly matters
    truth = _truth(model, 2)
    centre = model_volume(model, _scan({"oversample": 2}), None, oversample=1)
    assert (centre - truth).abs().max() <= 0.01 * truth.abs().max()
    external = model_volume(model, _scan({}), None)  # no oversampling recorded: one point
    assert torch.equal(external, centre)
