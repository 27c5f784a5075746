"""Optional CUDA rasterizer hook: its camera agrees with our geometry; parity where it exists."""

from __future__ import annotations

import pytest
import torch

from common.errors import UserError
from physx4dct.geometry import ConeGeometry, detector_uv, view_frames
from physx4dct.projector import covariance_from, splat_view
from physx4dct.rasterizer import camera_matrices, cuda_rasterizer_available, get_splatter

GEO = ConeGeometry(
    nDetector=(40, 48), dDetector=(9.0, 8.0), nVoxel=(32, 32, 32), dVoxel=(10.0, 10.0, 10.0)
)


def test_camera_projects_points_where_our_detector_sees_them():
    """ndc -> pixel as the 3DGS kernels do ((ndc + 1) W - 1) / 2) equals our pixel index."""
    g = torch.Generator().manual_seed(0)
    pts = (torch.rand(50, 3, generator=g, dtype=torch.float64) - 0.5) * 1.4
    for angle in (0.0, 0.9, 4.0):
        m = camera_matrices(GEO, angle)
        clip = torch.cat([pts, torch.ones(50, 1, dtype=torch.float64)], 1) @ m["full"].double()
        ndc = clip[:, :2] / clip[:, 3:]
        h, w = GEO.nDetector
        col = ((ndc[:, 0] + 1) * w - 1) / 2
        row = ((ndc[:, 1] + 1) * h - 1) / 2
        src, f, e_u, e_v = (a[0] for a in view_frames(GEO, torch.tensor([angle]).double()))
        rel = pts - src
        z = rel @ f
        dsd = GEO.DSD * GEO.scale
        u, v = dsd * (rel @ e_u) / z, dsd * (rel @ e_v) / z
        uu, vv = detector_uv(GEO, torch.float64)
        du, dv = GEO.dDetector[1] * GEO.scale, GEO.dDetector[0] * GEO.scale
        torch.testing.assert_close(col, (u - uu[0]) / du, atol=1e-3, rtol=0)
        torch.testing.assert_close(row, (v - vv[0]) / dv, atol=1e-3, rtol=0)


@pytest.mark.skipif(cuda_rasterizer_available(), reason="the CUDA rasterizer is installed")
def test_asking_for_cuda_without_it_is_one_line():
    with pytest.raises(UserError, match="--rasterizer: cuda needs a CUDA device") as info:
        get_splatter("cuda")
    assert "\n" not in str(info.value)
    assert get_splatter("torch") is splat_view
    with pytest.raises(UserError, match="unknown rasterizer"):
        get_splatter("optix")


@pytest.mark.skipif(not cuda_rasterizer_available(), reason="needs CUDA and the X-ray rasterizer")
def test_cuda_rasterizer_matches_the_torch_splatter():
    g = torch.Generator().manual_seed(1)
    n = 50
    means = ((torch.rand(n, 3, generator=g) - 0.5) * 1.2).cuda()
    cov = covariance_from(
        torch.log(torch.rand(n, 3, generator=g) * 0.05 + 0.02), torch.randn(n, 4, generator=g)
    ).cuda()
    rho = (torch.rand(n, generator=g) + 0.5).cuda()
    angle = torch.tensor(0.8)
    ref = splat_view(GEO, angle.cuda(), means, cov, rho)
    img = get_splatter("cuda")(GEO, angle, means, cov, rho)
    assert float((img - ref).norm() / ref.norm()) < 0.02


@pytest.mark.skipif(cuda_rasterizer_available(), reason="the CUDA rasterizer is installed")
def test_train_with_cuda_rasterizer_refused_before_the_run_dir(tmp_path):
    from click.testing import CliRunner

    from physx4dct.cli import cli

    scan, run = tmp_path / "scan.pickle", tmp_path / "run"
    args = ["phantom", "--out", str(scan), "--preset", "tiny", "--views", "8"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    res = CliRunner().invoke(
        cli, ["train", "--data", str(scan), "--run-dir", str(run), "--rasterizer", "cuda"]
    )
    assert res.exit_code == 1 and "--rasterizer: cuda needs" in res.output
    assert len(res.output.strip().splitlines()) == 1 and not run.exists()
