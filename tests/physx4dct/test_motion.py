"""Motion in mm and the phantom without inverse crime (issue 27)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from physx4dct.config import PhantomConfig
from physx4dct.data import read_scan, simulate_scan, write_scan
from physx4dct.motion import motion_truth_at, score_motion
from physx4dct.phantom import diaphragm_apex_mm, tumour_centre_mm
from physx4dct.projector import raymarch

CFG = PhantomConfig(n_views=24, n_val=0, detector=24, volume=32, oversample=2, photons=0)


@pytest.fixture(scope="module")
def scan():
    return simulate_scan(CFG)


def test_truth_is_saved_and_survives_the_x2_layout(scan, tmp_path):
    b = scan.breathing
    assert (
        b["tumour_mm"].shape == (len(b["time"]), 3) and b["diaphragm_mm"].shape == b["time"].shape
    )
    # diaphragm 15 mm excursion, tumour 0.8 of it superior-inferior (mm, not scene units)
    assert np.ptp(b["diaphragm_mm"]) == pytest.approx(15.0, abs=0.1)
    assert np.ptp(b["tumour_mm"][:, 2]) == pytest.approx(12.0, abs=0.1)
    path = tmp_path / "x2.pickle"
    write_scan(scan, path)
    truth = motion_truth_at(read_scan(path))
    np.testing.assert_allclose(truth["tumour_mm"], motion_truth_at(scan)["tumour_mm"])


def test_metrics_on_truth_are_below_a_quarter_voxel_and_can_fail(scan):
    voxel = max(scan.geo.dVoxel)
    good = score_motion(scan.volumes, scan)
    assert good["tumour_rms_mm"] < 0.25 * voxel and good["diaphragm_rms_mm"] < 0.25 * voxel
    frozen = score_motion(scan.volumes[:1], scan)  # a static reconstruction at end-exhale
    truth = motion_truth_at(scan)
    spread = np.sqrt(np.mean(np.sum((truth["tumour_mm"] - truth["tumour_mm"][0]) ** 2, 1)))
    assert frozen["tumour_rms_mm"] == pytest.approx(spread, abs=0.3 * voxel)
    assert frozen["tumour_rms_mm"] > 3 * good["tumour_rms_mm"]
    assert frozen["diaphragm_rms_mm"] > 5.0


def test_truth_helpers_match_the_drawn_phantom():
    c = tumour_centre_mm(1.0, 0.25, 15.0)
    np.testing.assert_allclose(c, [-60.0, 14.0, -7.0])
    assert float(diaphragm_apex_mm(1.0, 15.0)) == -30.0


def test_oversampled_projections_differ_from_the_scoring_grid():
    """No inverse crime: the data are not ray-marched through the grid the model is scored on,
    yet they agree with the truth on that grid to a few per cent.
    """
    cfg = dataclasses.replace(CFG, n_views=3, static=True)
    fine = simulate_scan(cfg)
    ang = torch.as_tensor(fine.train.angles, dtype=torch.float32)
    from_truth = raymarch(fine.geo, torch.from_numpy(fine.volumes[0]), ang).numpy()
    rel = np.abs(fine.train.projections - from_truth).mean() / from_truth.mean()
    assert 1e-3 < rel < 0.05


def test_photon_noise_has_the_poisson_variance():
    cfg = dataclasses.replace(CFG, n_views=4, oversample=1, static=True)
    clean = simulate_scan(cfg).train.projections
    noisy = simulate_scan(dataclasses.replace(cfg, photons=1e4)).train.projections
    geo_scale = simulate_scan(cfg).geo.scale
    to_phys = cfg.mu_water_mm / 0.2 / geo_scale
    depth = clean * to_phys
    # var of -log(N / I0) with N ~ Poisson(I0 e^-p) is e^p / I0 (delta method)
    z = (noisy - clean) * to_phys / np.sqrt(np.exp(depth) / 1e4)
    centre = depth < 4  # well above the one-count floor
    assert abs(z[centre].std() - 1.0) < 0.1 and abs(z[centre].mean()) < 0.1
