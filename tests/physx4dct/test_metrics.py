"""The metric conventions against scikit-image and copies of the authors' evaluation code."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from physx4dct.metrics import psnr3d_stnf, psnr3d_x2, ssim2d, ssim3d_stnf, ssim3d_x2

skm = pytest.importorskip("skimage.metrics")


def _pair(seed: int = 0, n: int = 14) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.linspace(-1, 1, n)
    gx, gy, gz = np.meshgrid(x, x, x, indexing="ij")
    gt = np.clip(0.2 + 0.6 * np.exp(-(gx**2 + 2 * gy**2 + gz**2) * 3), 0, 1)
    gt[:2] = 0.0  # empty slices: X² skips them
    pred = np.clip(gt + 0.05 * rng.standard_normal(gt.shape) + 0.02, 0, None)
    return pred, gt


def _norml(x: np.ndarray) -> np.ndarray:
    """STNF4D's util.norml."""
    return (x - np.min(x)) / (np.max(x) - np.min(x) + 1e-10)


@pytest.mark.parametrize("data_range", [1.0, 2.0])
def test_ssim3d_stnf_is_skimage_structural_similarity(data_range):
    pred, gt = _pair()
    ref = skm.structural_similarity(_norml(pred), _norml(gt), data_range=data_range)
    ours = ssim3d_stnf(torch.from_numpy(pred), torch.from_numpy(gt), data_range=data_range)
    assert ours == pytest.approx(ref, abs=1e-9)


def test_stnf4d_default_is_what_skimage_019_infers_for_floats():
    """STNF4D pins scikit-image 0.19, whose float default data_range is 1 - (-1) = 2."""
    pred, gt = _pair(1)
    ref = skm.structural_similarity(_norml(pred), _norml(gt), data_range=2.0)
    assert ssim3d_stnf(torch.from_numpy(pred), torch.from_numpy(gt)) == pytest.approx(ref, abs=1e-9)
    m = ssim3d_stnf(torch.from_numpy(pred), torch.from_numpy(gt), data_range=1.0)
    assert m < ref - 1e-3  # the data range matters: the test can fail


def test_ssim2d_matches_skimage_gaussian_interior():
    """Our zero-padded Gaussian SSIM (X²) equals skimage's Gaussian SSIM (sigma 1.5, no
    sample-covariance correction) on the interior, where neither pads.
    """
    rng = np.random.default_rng(3)
    a = rng.random((40, 40))
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1)
    _, full = skm.structural_similarity(
        a,
        b,
        data_range=1.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        truncate=3.5,
        full=True,
    )
    ours = _ssim_map(torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None])
    np.testing.assert_allclose(ours[6:-6, 6:-6], full[6:-6, 6:-6], atol=1e-6)
    assert float(ssim2d(torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None])) < 1


def _ssim_map(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Per-pixel map of physx4dct.metrics' SSIM (recomputed with its window)."""
    from physx4dct.metrics import _gauss_window

    w = _gauss_window(11, 1.5, a.dtype)
    f = torch.nn.functional.conv2d
    mu_a, mu_b = f(a, w, padding=5), f(b, w, padding=5)
    saa = f(a * a, w, padding=5) - mu_a**2
    sbb = f(b * b, w, padding=5) - mu_b**2
    sab = f(a * b, w, padding=5) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    m = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2))
    return m[0, 0].numpy()


def test_x2_conventions_follow_metric_vol():
    pred, gt = _pair(2)
    mse = float(np.mean((gt - pred) ** 2))
    assert psnr3d_x2(torch.from_numpy(pred), torch.from_numpy(gt)) == pytest.approx(
        10 * math.log10(1.0 / mse)
    )
    # metric_vol's SSIM: per axis, sum over slices with max(gt) > 0 / their count
    per_axis = []
    for axis in range(3):
        vals = []
        for i in range(gt.shape[axis]):
            g, p = np.take(gt, i, axis), np.take(pred, i, axis)
            if g.max() > 0:
                t = (torch.from_numpy(p)[None, None], torch.from_numpy(g)[None, None])
                vals.append(float(ssim2d(*t)))
        per_axis.append(np.mean(vals))
    ours = ssim3d_x2(torch.from_numpy(pred), torch.from_numpy(gt))
    assert ours == pytest.approx(np.mean(per_axis), abs=1e-6)


def test_stnf_psnr_is_get_psnr_3d():
    pred, gt = _pair(4)
    mse = np.mean((_norml(pred) - _norml(gt)) ** 2)
    ref = 20 * np.log10(1.0 / np.sqrt(mse))
    assert psnr3d_stnf(torch.from_numpy(pred), torch.from_numpy(gt)) == pytest.approx(ref)
