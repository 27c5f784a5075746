"""Fusion figures: the HexPlane-weight slice and the anchor motion are written as PNG."""

from __future__ import annotations

import torch

from physx4dct.deformation import HexPlaneConfig, HexPlaneField
from physx4dct.fusion import FusionConfig, build_deformation
from physx4dct.fusion.plots import hex_weight_field, write_fusion_figures

SMALL = dict(
    num_anchors=24, anchor_k=4, transformer_dim=16, transformer_heads=2, transformer_layers=1
)


def _model(mode: str, **kw):
    xyz = torch.rand(200, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    hp = HexPlaneField(
        HexPlaneConfig(channels=4, resolution=6, time_resolution=8, multires=(1,), hidden=16)
    )
    return build_deformation(FusionConfig(fusion_mode=mode, **SMALL, **kw), hp, xyz)


def test_write_fusion_figures(tmp_path):
    model = _model("uncertainty_gated")
    torch.nn.init.normal_(model.anchor.head.weight, std=0.1)
    torch.nn.init.normal_(model.euler.mlp[-1].weight, std=1.0)
    paths = write_fusion_figures(model, tmp_path / "figs")
    assert [p.name for p in paths] == ["fusion_weight.png", "anchor_motion.png"]
    for p in paths:
        assert p.read_bytes()[:4] == b"\x89PNG" and p.stat().st_size > 5000
    assert model.training  # mode restored
    assert write_fusion_figures(model.hexplane, tmp_path / "none") == []


def test_hex_weight_field_per_mode():
    pts = torch.rand(50, 3) * 2 - 1
    w = hex_weight_field(_model("bounded_perturb"), pts, 0.3, step=0)
    torch.testing.assert_close(w, torch.full((50,), 0.015))
    w = hex_weight_field(_model("fixed_alpha", alpha=0.99), pts, 0.3)
    torch.testing.assert_close(w, torch.full((50,), 0.01))
    w = hex_weight_field(_model("uncertainty"), pts, 0.3)
    torch.testing.assert_close(w, torch.full((50,), 0.5))  # equal variances at init
    gated = hex_weight_field(_model("uncertainty_gated", gamma_max=0.005), pts, 0.3)
    torch.testing.assert_close(gated, torch.full((50,), 0.01))


def test_surrogate_anchor_motion_is_along_the_breathing_axis_in_mm(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from physx4dct.fusion.plots import plot_anchor_motion
    from physx4dct.surrogate import GRID

    model = _model("surrogate")
    g = torch.linspace(0, 1, GRID)
    model.set_surrogate(torch.stack([torch.sin(6.28 * 4 * g) ** 2, torch.cos(6.28 * 4 * g)]))
    with torch.no_grad():
        model.coef[:, 0, 2] = -0.1  # 0.1 scene units inferior at s = 1
    paths = write_fusion_figures(model, tmp_path, mm_per_unit=160.0, scan_s=60.0)
    assert [p.name for p in paths] == ["anchor_motion.png"]  # no HexPlane weight to draw
    fig, axes = plt.subplots(1, 3)
    plot_anchor_motion(model, axes, mm_per_unit=160.0, scan_s=60.0)
    assert all("(mm" in ax.get_ylabel() for ax in axes)
    assert axes[1].get_xlabel() == "scan time (s)" and "surrogate" in axes[2].get_xlabel()
    zs = axes[1].lines[0].get_ydata()
    assert abs(min(zs) + 16.0) < 0.5  # mm, not scene units
    assert len(fig.axes) == 4  # three panels + the colour bar
    plt.close(fig)
