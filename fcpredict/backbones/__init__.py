"""Pretrained universal potentials wrapped as fcpredict energy models.

Every backbone is an ``nn.Module`` with ``forward(graph, positions=None, cells=None) -> E (B,)``
in eV (the interface of :class:`fcpredict.model.EquiformerEnergy`), twice differentiable in
``positions``, so fcpredict's exact Hessian rows, symmetry expansion and phonopy output apply
unchanged. Weights come from inside the installed wheels; nothing is downloaded.
CHGNet appears only as a comparison row of the bench (phonopy finite displacements with its
own ASE calculator), not as a backbone.
"""

from __future__ import annotations

import torch

from fcpredict.backbone_names import BACKBONE_NAMES

__all__ = ["BACKBONES", "canonical_backbone", "load_backbone"]

BACKBONES = BACKBONE_NAMES
"""Pretrained backbones (``--backbone``); 'equiformer' is the trainable-from-scratch model.

* 'sevennet-0': SevenNet-0 (11Jul2024; lmax 2, MPtrj, PBE/PBE+U);
* 'sevennet-l3i5': SevenNet-l3i5 (lmax 3, 5 interactions, same training data; slower);
* 'sevennet-mf-0': SevenNet-MF-0 with its PBE fidelity head (multi-fidelity PBE + r2SCAN
  model; the PBE head matches VASP PBE references such as the shared phonopy sets);
* 'sevennet-mf-0-r2scan': the same network with its r2SCAN fidelity head (for r2SCAN
  references, on an r2SCAN geometry);
* 'sevennet-0-22may2024': the first SevenNet-0 release (22May2024), shipped beside 11Jul2024.
"""

_SPEC = {  # backbone -> (checkpoint inside the sevenn wheel, fidelity head)
    "sevennet-0": ("7net-0", None),
    "sevennet-l3i5": ("7net-l3i5", None),
    "sevennet-mf-0": ("7net-mf-0", "PBE"),
    "sevennet-mf-0-r2scan": ("7net-mf-0", "R2SCAN"),
    "sevennet-0-22may2024": ("7net-0_22may2024", None),
}
_ALIASES = {
    "sevennet": "sevennet-0",
    **{ckpt: b for b, (ckpt, m) in _SPEC.items() if m != "R2SCAN"},
}


def canonical_backbone(name: str) -> str:
    """The :data:`BACKBONES` spelling of ``name`` (aliases such as '7net-0' accepted)."""
    from common.errors import UserError

    key = _ALIASES.get(name.lower(), name.lower())
    if key not in _SPEC:
        raise UserError(
            f"--backbone: unknown backbone {name!r} (choose from {', '.join(BACKBONES)})"
        )
    return key


def load_backbone(name: str, dtype: torch.dtype = torch.float64) -> torch.nn.Module:
    """The pretrained backbone ``name`` (see :data:`BACKBONES`) in eval mode.

    Raises
    ------
    common.errors.UserError
        Unknown name, or its package (extra) is not installed.
    """
    from common.errors import UserError

    ckpt, modal = _SPEC[canonical_backbone(name)]
    try:
        from fcpredict.backbones.sevennet import SevenNetEnergy

        model = SevenNetEnergy(ckpt, modal=modal)
    except ImportError as exc:
        raise UserError(
            f"--backbone {name}: needs the optional package ({exc.name}); "
            "install the fcpredict backbones extra"
        ) from exc
    return model.to(dtype).eval()
