"""Figures (matplotlib, Agg): GT vs reconstruction slices per phase, error maps, and the
learned breathing motion against the true breathing trace.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from common.io import atomic_path  # noqa: E402
from physx4dct.data import Scan  # noqa: E402
from physx4dct.evaluate import model_volumes, motion_trace  # noqa: E402
from physx4dct.model import Model4D  # noqa: E402

__all__ = ["plot_phase_slices", "plot_breathing", "write_figures"]


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return path


def plot_phase_slices(
    gt: np.ndarray, recons: dict[str, np.ndarray], path: Path, phases: tuple[int, ...] = (0, 5)
) -> Path:
    """Coronal slices (x-z plane through the lungs) of GT and each reconstruction, and
    |error| maps, for the given phases (end-exhale 0, end-inhale ~P/2).
    """
    phases = tuple(p for p in phases if p < gt.shape[0])
    cols = 1 + 2 * len(recons)
    fig, axes = plt.subplots(
        len(phases), cols, figsize=(2.2 * cols, 2.3 * len(phases)), squeeze=False
    )
    y = gt.shape[2] // 2
    vmax = float(gt.max())
    for r, k in enumerate(phases):
        g = gt[k][:, y, :].T
        axes[r, 0].imshow(g, origin="lower", cmap="gray", vmin=0, vmax=vmax)
        axes[r, 0].set_title(f"GT phase {k}", fontsize=8)
        for c, (name, vol) in enumerate(recons.items()):
            img = vol[k][:, y, :].T
            axes[r, 1 + 2 * c].imshow(img, origin="lower", cmap="gray", vmin=0, vmax=vmax)
            axes[r, 1 + 2 * c].set_title(name, fontsize=8)
            axes[r, 2 + 2 * c].imshow(
                np.abs(img - g), origin="lower", cmap="magma", vmin=0, vmax=0.3 * vmax
            )
            axes[r, 2 + 2 * c].set_title(f"|{name} - GT|", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return _save(fig, path)


def plot_breathing(model: Model4D, scan: Scan, path: Path) -> Path:
    """Normalised learned SI motion vs the true breathing displacement, and T learned."""
    t, dz = motion_trace(model, scan)
    fig, ax = plt.subplots(figsize=(7, 2.6))
    if scan.breathing is not None:
        bt, sig = np.asarray(scan.breathing["time"]), np.asarray(scan.breathing["signal"])
        ax.plot(bt, (sig - sig.mean()) / (sig.std() + 1e-12), "k-", lw=1, label="true trace")
        learned = -dz
        corr = np.corrcoef(np.interp(t, bt, sig), learned)[0, 1] if learned.std() > 0 else 0
        if corr < 0:  # the field may encode inhale as an upward shift of its movers
            learned, corr = -learned, -corr
        ax.plot(
            t,
            (learned - learned.mean()) / (learned.std() + 1e-12),
            "r-",
            lw=1,
            label="learned (SI motion of top movers)",
        )
        ax.set_title(
            f"learned T = {float(model.period_s().detach()):.2f} s, "
            f"true mean period {scan.meta.get('mean_period_s', float('nan')):.2f} s, "
            f"|corr| {corr:.2f}",
            fontsize=9,
        )
    ax.set_xlabel("time (s)")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return _save(fig, path)


def write_figures(model: Model4D, scan: Scan, out_dir: str | Path) -> list[Path]:
    """All figures of one trained model into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    if scan.volumes is not None:
        vols = model_volumes(model, scan)
        k_in = scan.volumes.shape[0] // 2
        paths.append(
            plot_phase_slices(scan.volumes, {"model": vols}, out / "slices.png", (0, k_in))
        )
    if model.deformation is not None:
        paths.append(plot_breathing(model, scan, out / "breathing.png"))
    return paths
