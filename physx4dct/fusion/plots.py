"""Figures of the fused deformation: HexPlane weight (gate/beta/eps/alpha) on a slice, anchors.

`hex_weight_field` evaluates the weight the HexPlane branch gets at arbitrary points (beta
of uncertainty_gated, w_h of uncertainty, eps of bounded_perturb, 1 - alpha otherwise);
`plot_gate_slice` draws it on a coronal slice, `plot_anchor_motion` the anchor motion along
the breathing (superior-inferior) axis in mm: the displacement field at peak motion, the
anchor trajectories over the scan and, for surrogate-driven anchors, against the breathing
signal. `write_fusion_figures(deformation, out_dir, mm_per_unit=..., scan_s=...)` writes the
PNGs (atomically) and returns their paths; [] for the plain HexPlane field. Matplotlib runs
with the Agg backend.
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
    ax.set_xlabel("x (scene units, +left)")
    ax.set_ylabel("z (scene units, +superior)")


def _anchor_source(model: nn.Module) -> nn.Module | None:
    """The module holding ``anchors`` and ``displacements(times)`` (fused or surrogate)."""
    if hasattr(model, "anchor"):
        return model.anchor
    return model if hasattr(model, "anchors") and hasattr(model, "displacements") else None


@torch.no_grad()
def anchor_trajectories(model: nn.Module, n_times: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Times (T,) and anchor displacements (T, M, 3) over the scan (normalised time)."""
    anchor = _anchor_source(model)
    times = torch.linspace(0, 1, n_times, dtype=anchor.anchors.dtype, device=anchor.anchors.device)
    d = torch.cat([anchor.displacements(times[i : i + 16]) for i in range(0, n_times, 16)])
    return times.cpu().numpy(), d.cpu().numpy()


def plot_anchor_motion(
    model: nn.Module, axes: Any, n_times: int = 100, mm_per_unit: float = 1.0, scan_s: float = 1.0
) -> None:
    """Anchor motion along the breathing (superior-inferior, z) axis, in mm.

    Panel 1: the anchors in the coronal plane (x, z), coloured by their z displacement at the
    time of largest motion, with arrows of their (x, z) displacement (true length).
    Panel 2: z displacement of the 8 most mobile anchors over the scan.
    Panel 3 (surrogate-driven models, ``signal_at``): the same against the breathing
    surrogate s, where a line is pure breathing motion and a loop is hysteresis.
    Lengths are multiplied by ``mm_per_unit`` (scene units -> mm), times by ``scan_s``.
    """
    times, d = anchor_trajectories(model, n_times)
    src = _anchor_source(model)
    pos = src.anchors.cpu().numpy() * mm_per_unit
    d = d * mm_per_unit
    k = int(np.argmax(np.linalg.norm(d, axis=-1).mean(1)))
    lim = max(float(np.abs(d[k, :, 2]).max()), 1e-6)
    ax0, ax1 = axes[0], axes[1]
    sc = ax0.scatter(pos[:, 0], pos[:, 2], c=d[k, :, 2], s=8, cmap="coolwarm", vmin=-lim, vmax=lim)
    ax0.quiver(pos[:, 0], pos[:, 2], d[k, :, 0], d[k, :, 2], angles="xy", scale_units="xy",
               scale=1.0, width=0.003)  # fmt: skip
    ax0.figure.colorbar(sc, ax=ax0, fraction=0.046, label="SI displacement dz (mm)")
    ax0.set_title(f"anchors at t = {times[k] * scan_s:.1f} s (arrows: true length)", fontsize=9)
    ax0.set_xlabel("x (mm, +left)")
    ax0.set_ylabel("z (mm, +superior)")
    ax0.set_aspect("equal")
    mobile = np.argsort(-np.abs(d[..., 2]).max(0))[:8]
    for m in mobile:
        ax1.plot(times * scan_s, d[:, m, 2], lw=1)
    ax1.set_xlabel("scan time (s)")
    ax1.set_ylabel("SI displacement dz (mm)")
    ax1.set_title("8 most mobile anchors", fontsize=9)
    if len(axes) > 2 and hasattr(src, "signal_at"):
        sig = src.signal_at(torch.as_tensor(times, dtype=src.anchors.dtype)).cpu().numpy()
        for m in mobile:
            axes[2].plot(sig[:, 0], d[:, m, 2], ".", ms=2)
        axes[2].set_xlabel("breathing surrogate s (0-1, from the projections)")
        axes[2].set_ylabel("SI displacement dz (mm)")
        axes[2].set_title("motion along the breathing axis", fontsize=9)


def write_fusion_figures(
    model: nn.Module,
    out_dir: str | Path,
    t: float = 0.5,
    mm_per_unit: float = 1.0,
    scan_s: float = 1.0,
) -> list[Path]:
    """Write fusion_weight.png (fused modes) and anchor_motion.png for an anchor-based
    deformation; [] for the plain HexPlane field. ``mm_per_unit`` and ``scan_s`` put the
    anchor figure in mm and seconds (1.0: scene units and normalised time).
    """
    src = _anchor_source(model)
    if src is None:
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
        if hasattr(model, "anchor"):
            fig, ax = plt.subplots(figsize=(5, 4.2))
            plot_gate_slice(model, ax, t=t)
            written.append(_save(fig, out_dir / "fusion_weight.png", atomic_path, plt))
        n_panels = 3 if hasattr(src, "signal_at") else 2
        fig, axes = plt.subplots(1, n_panels, figsize=(5 * n_panels, 4.2))
        plot_anchor_motion(model, axes, mm_per_unit=mm_per_unit, scan_s=scan_s)
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
