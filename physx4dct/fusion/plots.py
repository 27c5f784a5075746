"""Figures of the fused deformation: HexPlane weight (gate/beta/eps/alpha) on a slice, anchors.

`hex_weight_field` evaluates the weight the HexPlane branch gets at arbitrary points (beta
of uncertainty_gated, w_h of uncertainty, eps of bounded_perturb, 1 - alpha otherwise);
`plot_gate_slice` draws it on a coronal slice, `plot_anchor_motion` the anchor displacement
field at peak motion and the superior-inferior anchor trajectories over the scan.
`write_fusion_figures(deformation, out_dir)` writes both PNGs (atomically) and returns their
paths; it returns [] for the plain HexPlane field. Matplotlib runs with the Agg backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["hex_weight_field", "plot_anchor_motion", "plot_gate_slice", "write_fusion_figures"]


@torch.no_grad()
def hex_weight_field(model: nn.Module, points: Tensor, t: float, step: int | None = None) -> Tensor:
    """(P,) weight of the HexPlane branch at `points` (P,3) and time t (normalised); `step`
    (default: the last training step) matters for the eps schedules only.
    """
    mode = getattr(model, "mode", "hexplane")
    cfg = getattr(model, "cfg", None)
    p = points.to(next(model.parameters()).device)
    tt = torch.tensor(float(t), dtype=p.dtype, device=p.device)
    ones = torch.ones(p.shape[0], dtype=p.dtype, device=p.device)
    if mode == "hexplane":
        return ones
    if mode == "anchor":
        return 0 * ones
    if mode == "uncertainty_gated":
        return model.gate(p, tt)[0].reshape(-1)
    if mode == "uncertainty":
        s_h = model.euler(p, tt)
        lv = model.anchor.encode(model.anchor.tokens(tt.reshape(1)))[1]
        from physx4dct.fusion.anchors import knn_skinning

        idx, w = knn_skinning(p, model.anchor.anchors, cfg.anchor_k, cfg.anchor_temperature)
        s_a = (lv[0][idx] * w[..., None]).sum(1)
        w_h = 1 / (torch.exp(s_h) + cfg.uncertainty_eps)
        w_a = 1 / (torch.exp(s_a) + cfg.uncertainty_eps)
        return (w_h / (w_h + w_a)).reshape(-1)
    if mode == "bounded_perturb":
        step = int(model.seen_step) if step is None else step
        return float(model.epsilon(step)) * ones
    if mode == "learnable_alpha":
        return float(1 - torch.sigmoid(model.alpha_logit)) * ones
    return (1.0 - cfg.alpha) * ones


def _slice_points(res: int, y: float = 0.0) -> Tensor:
    """(res*res, 3) points of the coronal plane y = const (x across, z up), scene units."""
    g = torch.linspace(-1, 1, res)
    zz, xx = torch.meshgrid(g, g, indexing="ij")
    return torch.stack([xx, torch.full_like(xx, y), zz], -1).reshape(-1, 3)


def plot_gate_slice(
    model: nn.Module, ax: Any, t: float = 0.5, res: int = 64, y: float = 0.0
) -> None:
    """Image of the HexPlane weight on the coronal slice y at time t into a matplotlib `ax`."""
    w = hex_weight_field(model, _slice_points(res, y), t).cpu().numpy().reshape(res, res)
    im = ax.imshow(w, origin="lower", extent=(-1, 1, -1, 1), cmap="magma")
    ax.figure.colorbar(im, ax=ax, fraction=0.046)
    name = {"uncertainty_gated": "beta", "bounded_perturb": "eps", "uncertainty": "w_hex"}.get(
        getattr(model, "mode", ""), "1 - alpha"
    )
    ax.set_title(f"HexPlane weight {name} (y={y:+.2f}, t={t:.2f})")
    ax.set_xlabel("x (scene)")
    ax.set_ylabel("z (scene)")


@torch.no_grad()
def anchor_trajectories(model: nn.Module, n_times: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Times (T,) and anchor displacements (T, M, 3) over the scan (normalised time)."""
    anchor = model.anchor
    times = torch.linspace(0, 1, n_times, dtype=anchor.anchors.dtype, device=anchor.anchors.device)
    d = torch.cat([anchor.displacements(times[i : i + 16]) for i in range(0, n_times, 16)])
    return times.cpu().numpy(), d.cpu().numpy()


def plot_anchor_motion(model: nn.Module, axes: Any, n_times: int = 100) -> None:
    """Two panels: anchors (x, z) with their displacement at peak motion (arrows, x5) and the
    z displacement of the 8 most mobile anchors over the scan.
    """
    times, d = anchor_trajectories(model, n_times)
    pos = model.anchor.anchors.cpu().numpy()
    mag = np.linalg.norm(d, axis=-1)  # (T, M)
    k = int(np.argmax(mag.mean(1)))
    ax0, ax1 = axes
    sc = ax0.scatter(pos[:, 0], pos[:, 2], c=mag[k], s=6, cmap="viridis")
    ax0.quiver(
        pos[:, 0],
        pos[:, 2],
        d[k, :, 0],
        d[k, :, 2],
        angles="xy",
        scale_units="xy",
        scale=0.2,
        width=0.003,
    )
    ax0.figure.colorbar(sc, ax=ax0, fraction=0.046, label="|d| (scene units)")
    ax0.set_title(f"anchor displacement at t={times[k]:.2f} (arrows x5)")
    ax0.set_xlabel("x")
    ax0.set_ylabel("z")
    ax0.set_aspect("equal")
    for m in np.argsort(-mag.max(0))[:8]:
        ax1.plot(times, d[:, m, 2], lw=1)
    ax1.set_xlabel("normalised scan time")
    ax1.set_ylabel("anchor dz (scene units)")
    ax1.set_title("most mobile anchors")


def write_fusion_figures(model: nn.Module, out_dir: str | Path, t: float = 0.5) -> list[Path]:
    """Write fusion_weight.png and anchor_motion.png for a fused deformation; [] otherwise."""
    if not hasattr(model, "anchor"):
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from common.io import atomic_path

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    written = []
    try:
        fig, ax = plt.subplots(figsize=(5, 4.2))
        plot_gate_slice(model, ax, t=t)
        written.append(_save(fig, out_dir / "fusion_weight.png", atomic_path, plt))
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
        plot_anchor_motion(model, axes)
        written.append(_save(fig, out_dir / "anchor_motion.png", atomic_path, plt))
    finally:
        model.train(was_training)
    return written


def _save(fig: Any, path: Path, atomic_path: Any, plt: Any) -> Path:
    """Save and close a figure atomically."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
