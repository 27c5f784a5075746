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
from physx4dct.motion import score_motion  # noqa: E402

__all__ = [
    "plot_phase_slices",
    "plot_breathing",
    "plot_trajectory",
    "plot_trajectories",
    "write_figures",
]


def _save(fig: plt.Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return path


def plot_phase_slices(
    gt: np.ndarray,
    recons: dict[str, np.ndarray],
    path: Path,
    phases: tuple[int, ...] = (0, 5),
    extent_mm: tuple[float, float, float, float] | None = None,
) -> Path:
    """Coronal slices (x-z plane through the lungs) of GT and each reconstruction, and
    |error| maps, for the given phases (end-exhale 0, end-inhale ~P/2); colour bars give the
    attenuation, axes the position in mm when `extent_mm` (x0, x1, z0, z1) is given.
    """
    phases = tuple(p for p in phases if p < gt.shape[0])
    cols = 1 + 2 * len(recons)
    fig, axes = plt.subplots(
        len(phases), cols, figsize=(2.6 * cols, 2.5 * len(phases)), squeeze=False
    )
    y = gt.shape[2] // 2
    vmax = float(gt.max())
    kw = {"origin": "lower", "extent": extent_mm}

    def show(ax: plt.Axes, img: np.ndarray, title: str, **style: object) -> None:
        im = ax.imshow(img, **kw, **style)
        ax.set_title(title, fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)

    for r, k in enumerate(phases):
        g = gt[k][:, y, :].T
        show(axes[r, 0], g, f"GT phase {k}", cmap="gray", vmin=0, vmax=vmax)
        for c, (name, vol) in enumerate(recons.items()):
            img = vol[k][:, y, :].T
            show(axes[r, 1 + 2 * c], img, name, cmap="gray", vmin=0, vmax=vmax)
            err = np.abs(img - g)
            show(axes[r, 2 + 2 * c], err, f"|{name} - GT|", cmap="magma", vmin=0, vmax=0.3 * vmax)
    for ax in axes.flat:
        if extent_mm is None:
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            ax.set_xlabel("x (mm, +left)", fontsize=7)
            ax.set_ylabel("z (mm, +superior)", fontsize=7)
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    return _save(fig, path)


def plot_trajectory(motion: dict, path: Path, label: str = "learned") -> Path:
    """Tumour centroid (superior-inferior and anterior-posterior) and diaphragm height per
    phase: ground truth against the reconstruction's, in mm (`motion.score_motion` output).
    """
    true_t, est_t = np.asarray(motion["tumour_true_mm"]), np.asarray(motion["tumour_mm"])
    phase = np.arange(len(true_t))
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.8))
    panels = (
        (axes[0], true_t[:, 2], est_t[:, 2], "tumour z (mm, +superior)"),
        (axes[1], true_t[:, 1], est_t[:, 1], "tumour y (mm, +posterior)"),
        (
            axes[2],
            np.asarray(motion["diaphragm_true_mm"]),
            np.asarray(motion["diaphragm_mm"]),
            "diaphragm apex z (mm)",
        ),
    )
    for ax, t, e, ylabel in panels:
        ax.plot(phase, t, "k-o", ms=3, lw=1, label="ground truth")
        ax.plot(phase, e, "r--s", ms=3, lw=1, label=label)
        ax.set_xlabel("phase bin")
        ax.set_ylabel(ylabel)
    axes[0].legend(fontsize=7)
    fig.suptitle(
        f"tumour RMS {motion['tumour_rms_mm']:.1f} mm, diaphragm RMS "
        f"{motion['diaphragm_rms_mm']:.1f} mm (voxel {motion['voxel_mm']:.1f} mm)",
        fontsize=9,
    )
    fig.tight_layout()
    return _save(fig, path)


def plot_trajectories(motions: dict[str, dict], path: Path, title: str = "") -> Path:
    """True vs reconstructed tumour trajectory of several methods (`motion.score_motion`
    outputs by name): superior-inferior and anterior-posterior centre per phase, and the
    trajectory in the sagittal (y, z) plane, all in mm.
    """
    first = next(iter(motions.values()))
    truth = np.asarray(first["tumour_true_mm"])
    phase = np.arange(len(truth))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for ax, i, lab in ((axes[0], 2, "tumour z (mm, +superior)"), (axes[1], 1, "tumour y (mm)")):
        ax.plot(phase, truth[:, i], "k-o", ms=4, lw=2, label="ground truth")
        ax.set_xlabel("phase bin")
        ax.set_ylabel(lab)
    axes[2].plot(truth[:, 1], truth[:, 2], "k-o", ms=4, lw=2, label="ground truth")
    for name, m in motions.items():
        est = np.asarray(m["tumour_mm"])
        lab = f"{name} ({m['tumour_rms_mm']:.1f} mm RMS)"
        axes[0].plot(phase, est[:, 2], "--", marker="s", ms=3, lw=1, label=lab)
        axes[1].plot(phase, est[:, 1], "--", marker="s", ms=3, lw=1)
        axes[2].plot(est[:, 1], est[:, 2], "--", marker="s", ms=3, lw=1)
    axes[2].set_xlabel("tumour y (mm, +posterior)")
    axes[2].set_ylabel("tumour z (mm, +superior)")
    axes[2].set_title("sagittal trajectory", fontsize=9)
    axes[0].legend(fontsize=7)
    fig.suptitle(title or f"tumour trajectory (voxel {first['voxel_mm']:.1f} mm)", fontsize=9)
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
        head = (
            "driven by the projection surrogate"
            if getattr(model.deformation, "uses_surrogate", False)
            else f"learned T = {float(model.period_s().detach()):.2f} s"
        )
        ax.set_title(
            f"{head}, true mean period {scan.meta.get('mean_period_s', float('nan')):.2f} s, "
            f"|corr| {corr:.2f}",
            fontsize=9,
        )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("displacement (z-score)")
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
        hx, _, hz = (h / scan.geo.scale for h in scan.geo.half_extent)
        paths.append(
            plot_phase_slices(
                scan.volumes, {"model": vols}, out / "slices.png", (0, k_in), (-hx, hx, -hz, hz)
            )
        )
        motion = score_motion(vols, scan)
        if motion is not None:
            paths.append(plot_trajectory(motion, out / "trajectory.png"))
    if model.deformation is not None:
        paths.append(plot_breathing(model, scan, out / "breathing.png"))
    return paths
