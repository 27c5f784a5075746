"""Fusion of the HexPlane (Eulerian) field with the anchor-transformer (Lagrangian) field.

PhysX-4DCT (public fork loveberryc/GaussianSp of X²-Gaussian): a Gaussian centre x moves by

    dx = (1 - a) dx_hex + a dx_anchor                                   (fixed/learnable alpha)
    dx = (w_h dx_hex + w_a dx_anchor) / (w_h + w_a),  w = 1 / (sigma^2 + e)    (uncertainty)
    dx = (1 - beta) dx_anchor + beta dx_hex,  beta = gate(s_E) or (1 - a) + gamma(s_E)  (gated)
    dx = (1 - eps) dx_anchor + eps H(dx_hex),  eps = eps_max sigmoid(rho)   (bounded_perturb)

Design rules kept from the seed's experiments: fusion stays a weighted average, tanh in H
costs ~5 dB, a learnable eps must really be in the optimizer, alpha ~0.985-0.99 is best.

Modules: `anchors` (anchor field: FPS, KNN skinning, spacetime transformer, masked
modelling), `ops` (fusion operators and `FusedDeformation`), `regularizers` (leakage,
decoupling, distillation), `plots` (gate maps, anchor trajectories). The settings are
`physx4dct.config.FusionConfig` (section ``fusion`` of a preset, ``--set fusion.x=...``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from physx4dct.config import FUSION_MODES, FusionConfig

if TYPE_CHECKING:
    from torch import Tensor, nn

__all__ = ["FUSION_MODES", "FusionConfig", "build_deformation"]


def build_deformation(cfg: FusionConfig, hexplane: nn.Module, init_xyz: Tensor) -> nn.Module:
    """Build the deformation module of ``cfg.fusion_mode``.

    Parameters
    ----------
    cfg : FusionConfig
        Fusion settings.
    hexplane : nn.Module
        The HexPlane field; returned itself for ``fusion_mode == "hexplane"``.
    init_xyz : Tensor
        (N, 3) initial canonical Gaussian centres in [-1,1]^3; anchors are drawn from them by
        farthest-point sampling (detached).

    Returns
    -------
    nn.Module
        ``hexplane``, a `physx4dct.fusion.ops.FusedDeformation`, or for ``surrogate`` a
        `physx4dct.fusion.surrogate.SurrogateField` (its signal is set by
        `physx4dct.train.initial_model` from the scan).
    """
    if cfg.fusion_mode == "hexplane":
        return hexplane
    if cfg.fusion_mode == "surrogate":
        from physx4dct.fusion.surrogate import SurrogateField

        return SurrogateField(cfg, init_xyz, hexplane if cfg.surrogate_residual else None)
    from physx4dct.fusion.ops import FusedDeformation

    return FusedDeformation(cfg, hexplane, init_xyz)
