"""Learned relaxation of the cells the residual-driven prior holds beside the punctures.

The prior (:mod:`nrfix.newton`) solves the constraints in the bulk but holds chi and A_ij
fixed in the excision and its 2-cell buffer (:func:`nrfix.model.prior_held`); after it, nearly
all of sum Ham^2 and sum ||Mom||^2 over the input's cells sits in those held cells. This
module relaxes them: K unrolled, preconditioned gradient steps on

    E = 1/2 log mean Ham^2 + 1/2 log mean ||Mom||^2     (cells with chi >= 0.05)

with respect to v = log chi (A_ij rescaled by exp(1.5 v), as in the conformal method) and an
additive change of A_ij, both only on the held cells with chi >= 0.05 (the singular core
below 0.05 and every other cell keep the prior's values). The gradient is taken by autograd
through the constraint core, so every term (h_ij, its Ricci scalar, the Christoffels, the
A_ij and d chi / chi terms, the cells beside the held ones) is in it; it is divided by a
diagonal Gauss-Newton scale from the flat 4th-order stencils,

    D_v = 268 (chi / dx^2)^2 / (N mean Ham^2),
    D_A = (2.7 / dx^2 + 2.25 |d chi / chi|^2) / (N mean ||Mom||^2),

so a step is in units of a local Newton step at every dx and chi. What is learned are the step
sizes (alpha_k for v, beta_k for A_ij, k = 1..K), trained through the unrolled steps on the
training mix (:mod:`nrfix.prior_train`); they start at 0, where the model returns the prior's
output exactly. At inference the iterate (the prior's output included) is returned that has
the smallest summed log ratio of median and RMS |Ham| and ||Mom|| among those no more than 5%
worse than the uncorrected input in any of the four (the refusal rule of ``correct``, on the
input's cells), so the relaxation never returns a state that rule would refuse when the
prior's output passes it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from nrfix.config import Config, ModelConfig
from nrfix.constraints import C_A, IDX, constraints, diff1, interior
from nrfix.measure import CHI_EXCISION, GUARDED, compare, worse
from nrfix.model import NRFixNet, build_model, check_input, prior_held, project

GN_CHI = 4.0 * (3 * 2.5) ** 2 * (1.0 + 6 * (4 / 3 / 7.5) ** 2 + 6 * (1 / 12 / 7.5) ** 2)
"""Sum of squared coefficients of 2 x (the flat 4th-order Laplacian) around one cell (~268)."""
GN_A = 3.0 * 2 * ((2 / 3) ** 2 + (1 / 12) ** 2)
"""Sum over the 3 axes of the squared coefficients of the 4th-order first derivative (~2.7)."""
MAX_STEP = 0.5
"""Soft bound (tanh) of the change of log chi per step."""


def _norms(y: torch.Tensor, dx: float, meas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    c = constraints(y, dx)
    return c["Ham"][meas] ** 2, (c["Mom"] ** 2).sum(dim=1)[meas]


DEFAULT_FLOORS = (ModelConfig.chi_floor, ModelConfig.lapse_floor)
"""(chi, lapse) floors of the projection when none are given: the config's defaults."""


def _apply(y0: torch.Tensor, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    f = torch.exp(v)
    return torch.cat(
        [y0[:, :1] * f, y0[:, 1 : C_A.start], y0[:, C_A] * f**1.5 + a, y0[:, C_A.stop :]], dim=1
    )


def relax(
    y0: torch.Tensor,
    dx: float,
    alphas: torch.Tensor,
    betas: torch.Tensor,
    select: bool,
    reference: torch.Tensor | None = None,
    floors: tuple[float, float] | None = None,
) -> torch.Tensor:
    """K = len(alphas) relaxation steps of the held cells of y0 (module docstring).

    Differentiable in ``alphas``/``betas`` when grad mode is on (training). With ``select``
    the iterate (y0 included) is returned that :func:`select_iterate` picks against
    ``reference`` (the uncorrected input; y0 itself when not given), else the last.
    ``floors``: the (chi, lapse) floors of the projection (``model.chi_floor``/``lapse_floor``;
    the config's defaults when not given).
    """
    floors = floors or DEFAULT_FLOORS
    train = torch.is_grad_enabled() and (alphas.requires_grad or betas.requires_grad)
    chi_g = y0[:, IDX["chi"] : IDX["chi"] + 1]
    free = prior_held(y0, dilate=2) * (chi_g >= CHI_EXCISION).to(y0.dtype)
    edge = torch.zeros_like(free)
    edge[:, :, 2:-2, 2:-2, 2:-2] = 1.0
    free = free * edge
    meas = interior(y0[:, IDX["chi"]]) >= CHI_EXCISION
    if not bool(free.any()) or not bool(meas.any()):
        return y0
    dlogchi2 = (diff1(y0[:, IDX["chi"]], dx) / interior(chi_g[:, 0])[:, None]).pow(2).sum(1)
    dlogchi2 = nn.functional.pad(dlogchi2, (2, 2, 2, 2, 2, 2), mode="replicate")[:, None]
    v = torch.zeros_like(chi_g)
    a = torch.zeros_like(y0[:, C_A])
    iterates = [y0]
    with torch.enable_grad():
        for alpha, beta in zip(alphas, betas):
            if not train:
                v, a = v.detach().requires_grad_(), a.detach().requires_grad_()
            elif not v.requires_grad:
                v, a = v.requires_grad_(), a.requires_grad_()
            y = _apply(y0, v, a)
            ham2, mom2 = _norms(y, dx, meas)
            sh, sm = ham2.mean(), mom2.mean()
            energy = 0.5 * torch.log(sh + 1e-300) + 0.5 * torch.log(sm + 1e-300)
            gv, ga = torch.autograd.grad(energy, (v, a), create_graph=train)
            chi = y[:, :1].detach() if not train else y[:, :1]
            d_v = GN_CHI * (chi / dx**2) ** 2 / (ham2.numel() * sh)
            d_a = (GN_A / dx**2 + 2.25 * dlogchi2) / (mom2.numel() * sm)
            step_v = MAX_STEP * torch.tanh(alpha * gv / (d_v + 1e-300) / MAX_STEP)
            v = v - free * step_v
            a = a - free * beta * ga / (d_a + 1e-300)
            if not train:
                v, a = v.detach(), a.detach()
            iterates.append(_apply(y0, v, a))
    # only the change the projection makes to the steps, and only on the held cells: zero
    # steps return y0 bit for bit, every other cell keeps the prior's values
    base = project(y0, *floors)
    iterates = [y0] + [y0 + free * (project(it, *floors) - base) for it in iterates[1:]]
    if not select:
        return iterates[-1]
    ref = y0 if reference is None else reference
    return torch.stack(
        [
            select_iterate(ref[b].numpy(), [it[b].detach() for it in iterates], dx)
            for b in range(y0.shape[0])
        ]
    )


def select_iterate(reference: np.ndarray, iterates: list[torch.Tensor], dx: float) -> torch.Tensor:
    """Of ``iterates`` (each (25, X, Y, Z); the first is the prior's output), the one with the
    smallest summed log ratio of the four guarded norms among those no more than 5% worse
    than ``reference`` in any of them (the refusal rule of ``correct``, same cells); the first
    when none passes.
    """
    best, best_score = iterates[0], math.inf
    for it in iterates:
        cmp = compare(reference, it.numpy(), dx)
        score = sum(math.log(max(cmp["ratio"][k], 1e-300)) for k in GUARDED)
        if not worse(cmp) and score < best_score:
            best, best_score = it, score
    return best


class PriorRelax(nn.Module):
    """Learned step sizes of :func:`relax`; ``forward(x, dx)`` returns corrected data.

    Zero steps (the initial state) return x exactly.
    """

    global_operator = False
    whole_grid = True
    """``correct_grid`` calls it once on the whole grid (the steps are not local)."""

    def __init__(self, steps: int, floors: tuple[float, float] | None = None) -> None:
        super().__init__()
        self.floors = floors or DEFAULT_FLOORS
        self.alphas = nn.Parameter(torch.zeros(steps, dtype=torch.float64))
        self.betas = nn.Parameter(torch.zeros(steps, dtype=torch.float64))
        self.res_scale = 1.0

    def forward(
        self, x: torch.Tensor, dx: float | None = None, reference: torch.Tensor | None = None
    ) -> torch.Tensor:
        """X (B, 25, D, H, W) float64, the prior's output, -> relaxed data of the same shape.

        ``reference``: the uncorrected input (same shape), against which the returned iterate
        is checked (:func:`select_iterate`); x itself when not given. Training (grad mode on)
        returns the last iterate.
        """
        check_input(x)
        if dx is None:
            raise ValueError("the relax model needs the grid spacing: call net(x, dx)")
        training = torch.is_grad_enabled() and self.alphas.requires_grad
        return relax(x, dx, self.alphas, self.betas, not training, reference, self.floors)


def build(cfg: Config) -> NRFixNet | PriorRelax:
    """The model a run's config describes: :class:`PriorRelax` when ``model.relax_steps`` > 0
    (zero steps: it returns its input exactly), else :func:`nrfix.model.build_model`'s network.
    """
    if cfg.model.relax_steps:
        return PriorRelax(cfg.model.relax_steps, (cfg.model.chi_floor, cfg.model.lapse_floor))
    return build_model(cfg)
