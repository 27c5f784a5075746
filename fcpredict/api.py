"""fcpredict as a library: the facade a notebook imports (``cli.py`` is a thin layer over it).

Verbs follow phonopy: ``load_*``, ``make_*``, ``write_*``, ``plot``. Every function raises
:class:`common.errors.UserError` for a problem the caller can fix (a bad file, option or
checkpoint); nothing here imports Click. Heavy modules (torch, phonopy) load on first use.

Examples
--------
>>> from fcpredict import api
>>> api.make_data("runs/fc_data", 24)                                    # doctest: +SKIP
>>> cfg = api.load_config(preset="cpu", overrides={"data.dirs": ["runs/fc_data"]})
>>> api.fit(cfg, "runs/fc_run")                                          # doctest: +SKIP
>>> ph, fc, meta = api.predict("POSCAR", "runs/fc_run/checkpoints/best.pt", dim=[2, 2, 2])
>>> api.write_prediction("out/FORCE_CONSTANTS", ph, fc, meta)            # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from common.errors import UserError
from fcpredict.config import PRESETS_DIR, Config

__all__ = [
    "Config",
    "load_config",
    "make_data",
    "fit",
    "load_model",
    "parse_matrix",
    "parse_mesh",
    "load_structure",
    "predict",
    "write_prediction",
    "evaluate",
    "plot",
    "run_demo",
    "finetune",
]


def load_config(
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    sets: Sequence[str] = (),
) -> Config:
    """A validated :class:`Config`: defaults < preset < file < overrides < ``sets``.

    Parameters
    ----------
    preset
        Name in ``fcpredict/presets`` (tiny, cpu, default, baseline) or a YAML path.
    config_file
        YAML file of config values.
    overrides
        Dotted keys, e.g. ``{"train.steps": 100}`` (None values are ignored).
    sets
        ``"key=value"`` strings as given to ``--set``.

    Returns
    -------
    Config
    """
    from common.config import load_config as _load

    return _load(
        Config,
        preset=preset,
        presets_dir=PRESETS_DIR,
        config_file=config_file,
        overrides=overrides,
        sets=sets,
    )


def make_data(
    out: str | Path, n_structures: int, *, seed: int = 0, calculator: str = "emt", dim: int = 2
) -> list[Path]:
    """Write ``n_structures`` EMT/LJ/Morse-labelled phonopy folders (see fcpredict.data)."""
    from fcpredict.data import make_dataset

    return make_dataset(out, n_structures, seed=seed, calculator=calculator, dim=dim)


def fit(
    cfg: Config,
    run_dir: str | Path,
    *,
    device: str = "auto",
    resume: bool = False,
    allow_config_change: bool = False,
) -> dict[str, Any]:
    """Train (see :func:`fcpredict.train.fit`); returns the predictor's validation metrics."""
    from fcpredict.train import fit as _fit

    return _fit(cfg, run_dir, device=device, resume=resume, allow_config_change=allow_config_change)


def load_model(path: str | Path, device: str = "cpu") -> tuple[Any, Config]:
    """(model, config) of a checkpoint's predictor (see :func:`fcpredict.train.load_model`)."""
    from fcpredict.train import load_model as _load_model

    return _load_model(path, device)


def _ints(text: str | Sequence[Any], name: str, want: str) -> list[int]:
    items = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    vals = []
    try:
        for v in items:
            iv = int(v)  # '2.5' and nan raise ValueError, inf OverflowError
            if not isinstance(v, str) and iv != v:
                raise ValueError(v)
            vals.append(iv)
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"{name}: '{text}' needs {want}") from None
    return vals


def parse_mesh(text: str | Sequence[Any], name: str = "--mesh") -> list[int]:
    """A q mesh from '8 8 8' or a sequence of 3 positive integers (UserError otherwise)."""
    vals = _ints(text, name, "3 positive integers")
    if len(vals) != 3 or min(vals) < 1 or max(vals) > 1000:
        raise UserError(f"{name}: '{text}' needs 3 integers between 1 and 1000")
    return vals


def parse_matrix(text: str | Sequence[int] | None, name: str = "--dim") -> Any:
    """A supercell matrix from '2 2 2', '2,2,2', 9 integers, or a sequence.

    Returns
    -------
    list or None
        3 integers (diagonal) or a 3x3 nested list; None for None.

    Raises
    ------
    UserError
        Not 3 or 9 integers, or a zero determinant.
    """
    if text is None:
        return None
    vals = _ints(text, name, "3 or 9 integers")
    if len(vals) not in (3, 9):
        raise UserError(f"{name}: '{text}' needs 3 or 9 integers, got {len(vals)}")
    mat = vals if len(vals) == 3 else [vals[0:3], vals[3:6], vals[6:9]]
    import numpy as np

    full = np.diag(vals) if len(vals) == 3 else np.array(mat)
    if round(float(np.linalg.det(full))) < 1:
        raise UserError(f"{name}: '{text}' has determinant <= 0 (no supercell)")
    return mat


def load_structure(structure: str | Path, dim: Any = None) -> Any:
    """A ``phonopy.Phonopy`` (Angstrom) for a POSCAR (needs ``dim``) or a phonopy yaml/folder.

    A phonopy yaml or folder keeps its own supercell and primitive matrices; ``dim`` given
    with a yaml or folder replaces them (supercell ``dim`` of its unit cell, primitive 'auto').
    """
    from fcpredict.phonopy_io import angstrom_unitcell, load_phonopy, make_phonopy, read_structure

    path = Path(structure)
    if path.is_dir() or path.suffix in (".yaml", ".yml"):
        ph = load_phonopy(path, produce_fc=False)
        if dim is None:
            return make_phonopy(angstrom_unitcell(ph), ph.supercell_matrix, ph.primitive_matrix)
        return make_phonopy(angstrom_unitcell(ph), parse_matrix(dim))
    unit = read_structure(path)
    if dim is None:
        raise UserError(f"{path}: a POSCAR needs --dim (the supercell matrix)")
    return make_phonopy(unit, parse_matrix(dim))


def predict(
    structure: str | Path,
    checkpoint: str | Path | None = None,
    *,
    backbone: str | None = None,
    dim: Any = None,
    mode: str = "primitive",
    full: bool = False,
    symmetrize: bool = False,
    device: str = "auto",
) -> tuple[Any, Any, dict[str, Any]]:
    """Force constants of ``structure`` from a trained checkpoint.

    Parameters
    ----------
    structure
        POSCAR (with ``dim``) or a phonopy yaml / folder.
    checkpoint
        ``best.pt`` / ``last.pt`` of a run (or of ``finetune``); its predictor weights are used.
    backbone
        Without a checkpoint: a pretrained backbone used as is (no training): 'sevennet-0',
        'sevennet-l3i5', 'sevennet-mf-0' (its PBE head), 'sevennet-mf-0-r2scan' (its r2SCAN
        head) or 'sevennet-0-22may2024' (:data:`fcpredict.backbones.BACKBONES`).
    dim
        Supercell matrix (3 or 9 integers, or '2 2 2').
    mode
        Hessian rows computed: 'primitive', 'independent' or 'full'.
    full
        Return the full (N, N, 3, 3) array instead of the compact (n_prim, N, 3, 3) one.
    symmetrize
        Enforce index symmetry and the acoustic sum rule.
    device
        'auto', 'cpu', 'cuda', 'cuda:N'.

    Returns
    -------
    tuple
        (phonopy.Phonopy of the supercell, force constants in eV/A^2, metadata dict).
    """
    from common.config import to_dict
    from fcpredict import __version__
    from fcpredict.apply import predict_fc

    if mode not in ("primitive", "independent", "full"):
        raise UserError(f"--mode: unknown mode '{mode}' (primitive, independent or full)")
    ph = load_structure(structure, dim)
    if checkpoint is not None:
        model, cfg = load_model(checkpoint, device)
    elif backbone is not None:
        model, cfg = _pretrained(backbone, device)
    else:
        raise UserError("predict needs --checkpoint FILE or --backbone NAME (e.g. sevennet-0)")
    cutoff = float(getattr(model, "cutoff", cfg.model.cutoff))
    fc = predict_fc(model, ph, cutoff, mode=mode, compact=not full, symmetrize=symmetrize)
    meta = {
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "backbone": cfg.model.kind,
        "structure": str(structure),
        "mode": mode,
        "symmetrize": symmetrize,
        "config": to_dict(cfg),
        "version": __version__,
    }
    return ph, fc, meta


def _pretrained(backbone: str, device: str) -> tuple[Any, Config]:
    """A pretrained backbone (no checkpoint) and a Config naming it."""
    import dataclasses

    import torch

    from common.device import resolve_device
    from fcpredict.backbones import canonical_backbone, load_backbone

    model = load_backbone(backbone)  # UserError for an unknown name or a missing extra
    cfg = Config()
    kind = canonical_backbone(backbone)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, kind=kind))
    return model.to(resolve_device(device), torch.float64), cfg


def write_prediction(
    output: str | Path, ph: Any, fc: Any, meta: dict[str, Any] | None = None
) -> list[Path]:
    """Write FORCE_CONSTANTS, force_constants.hdf5 and phonopy.yaml (atomically)."""
    from fcpredict.phonopy_io import write_prediction as _write

    return _write(output, ph, fc, meta or {})


def evaluate(
    prediction: str | Path, reference: str | Path, mesh: Sequence[int] = (8, 8, 8)
) -> dict[str, Any]:
    """Metrics of a prediction (phonopy.yaml or its folder) against a reference folder/yaml.

    Returns
    -------
    dict
        Phi MAE and relative Frobenius error, frequency MAE (mesh, band path), index-symmetry
        and ASR errors, negative modes (see :func:`fcpredict.apply.phonon_metrics`).
    """
    from fcpredict.apply import phonon_metrics
    from fcpredict.phonopy_io import load_phonopy

    mesh = parse_mesh(mesh)
    pred, ref = load_phonopy(prediction), load_phonopy(reference)
    if len(pred.supercell) != len(ref.supercell):
        raise UserError(
            f"{prediction}: supercell of {len(pred.supercell)} atoms, reference "
            f"{reference} has {len(ref.supercell)}"
        )
    return phonon_metrics(pred, ref, mesh=mesh)


def plot(prediction: str | Path, reference: str | Path, output: str | Path) -> Path:
    """Bands and DOS of a prediction vs a reference into a PNG; returns its path."""
    from fcpredict.phonopy_io import load_phonopy
    from fcpredict.plots import plot_bands_dos

    pred, ref = load_phonopy(prediction), load_phonopy(reference)
    return plot_bands_dos(pred, ref, output, title=Path(reference).name)


def finetune(
    data: Sequence[str | Path],
    val: Sequence[str | Path],
    output: str | Path,
    **settings: Any,
) -> dict[str, Any]:
    """PFT-style fine-tuning of a pretrained backbone on DFT phonopy folders
    (:mod:`fcpredict.finetune`; ``backbone='sevennet-0'`` by default).

    Parameters
    ----------
    data
        Training phonopy folders (FORCE_SETS / FORCE_CONSTANTS / force_constants.hdf5), or
        parents of them.
    val
        Validation folders for early stopping (never the material you will test on).
    output
        Checkpoint for ``predict --checkpoint``.
    **settings
        Fields of :class:`fcpredict.finetune.FinetuneConfig` (steps, lr, seed, ...).

    Returns
    -------
    dict
        Checkpoint path, best step, validation curve, CPU seconds.
    """
    from fcpredict.finetune import FinetuneConfig, run_finetune

    try:
        cfg = FinetuneConfig(**{k: v for k, v in settings.items() if v is not None})
    except (TypeError, ValueError) as exc:
        raise UserError(f"finetune: {exc}") from None
    return run_finetune(list(data), list(val), output, cfg)


def run_demo(out: str | Path, steps: int = 200, device: str = "cpu") -> dict[str, Any]:
    """The whole pipeline on generated data (see :func:`fcpredict.demo.run_demo`)."""
    from fcpredict.demo import run_demo as _run

    return _run(Path(out), steps=steps, device=device)
