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

__all__ = ["BACKBONES", "load_backbone"]

BACKBONES = ("sevennet-0",)
"""Pretrained backbones (``--backbone``); 'equiformer' is the trainable-from-scratch model."""


def load_backbone(name: str, dtype: torch.dtype = torch.float64) -> torch.nn.Module:
    """The pretrained backbone ``name`` (see :data:`BACKBONES`) in eval mode.

    Raises
    ------
    common.errors.UserError
        Unknown name, or its package (extra) is not installed.
    """
    from common.errors import UserError

    key = name.lower()
    try:
        if key in ("sevennet-0", "7net-0", "sevennet"):
            from fcpredict.backbones.sevennet import SevenNetEnergy

            model = SevenNetEnergy("7net-0")
        else:
            raise UserError(
                f"--backbone: unknown backbone {name!r} (choose from {', '.join(BACKBONES)})"
            )
    except ImportError as exc:
        raise UserError(
            f"--backbone {name}: needs the optional package ({exc.name}); "
            "install the fcpredict backbones extra"
        ) from exc
    return model.to(dtype).eval()
