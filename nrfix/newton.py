"""The residual-driven prior: Newton steps on the measured Hamiltonian residual.

For any CCZ4 data (not only Bowen-York) the conformal factor psi = chi^(-1/4) is corrected,
psi -> psi + u, with h_ij, K and the conformal Abar_ij = chi^(-3/2) A_ij held fixed (so a
conformally flat, K = 0 momentum constraint is unchanged to first order). One Newton step
solves

    J u = -Ham(psi),     J = d Ham / d psi,

where Ham is the constraint core's own discrete Hamiltonian constraint as a function of chi
(:func:`nrfix.constraints.ham_of_chi`: it carries h_ij, its Ricci scalar and the A_ij
rescaling) and J is applied matrix-free by forward-mode JVPs. The linear system is solved by
restarted GMRES, preconditioned with the flat-space operator J0 = -8 psi^-5 L (Ham ~
-8 psi^-5 lap psi for conformally flat data), inverted by a Dirichlet discrete sine transform
of the same 4th-order Laplacian stencil. On exact data Ham is truncation error only, so the
step is as small as that; on Bowen-York data its source equals the linearised Lichnerowicz
source.

With ``momentum`` (the default) each step is instead the coupled Newton step of
:func:`nrfix.momentum.coupled_direction`: u and a CTT vector W (Abar_ij += (L W)_ij) solve the
linearised Ham = 0 and Mom_i = 0 together, so the conformal-factor correction does not leave
the momentum constraint worse (a separate conformal-factor step raised median ||Mom|| by
7-17% on Bowen-York data; a separate momentum step then spoiled RMS |Ham|).

Unknowns are the interior cells outside the excision (chi < ``chi_excision`` dilated by
``dilate`` cells); u = 0 is held inside the excision and on the inner ghost layer, and the
outermost ghost layer continues u smoothly through it (:func:`fill_ghosts`). Each step is
measured on the input's cells (:mod:`nrfix.measure`): a step that would raise median or RMS
|Ham| or ||Mom|| of the input by more than 5% is halved (up to ``backtracks`` times) and
otherwise not taken, so the prior never makes data silently worse.

The coupled step is used only when its GMRES reached :data:`COUPLED_TOL` and its result is no
worse than the input; otherwise the conformal-factor step from the same state is tried and
used if it is no worse than the input (:func:`_ladder`). ``NewtonReport.ladder`` says, per
step, which step was used and why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import scipy.fft
import scipy.ndimage
import torch

from nrfix.constraints import C_A, IDX, ham_of_chi, ham_parts
from nrfix.ghosts import fill_ghosts
from nrfix.krylov import gmres_solve
from nrfix.measure import CHI_EXCISION, GUARDED, cell_mask, compare, worse
from nrfix.poisson import dst_laplacian_inverse

PUNCTURE_CHI = 0.5
"""A local minimum of chi below this is treated as a puncture (excised)."""


@dataclass
class NewtonReport:
    """Outcome of :func:`newton_correct`."""

    steps: list[dict] = field(default_factory=list)
    """Per Newton step: gmres iterations, relative linear residual, step length taken."""
    excised_cells: int = 0
    unknowns: int = 0
    wall_s: float = 0.0
    stopped: str = ""
    """Why it stopped: 'iterations done', 'no improving step', or 'nothing to correct'."""
    ladder: list[str] = field(default_factory=list)
    """Per step where the coupled step was not used as it came: which step was used and why."""


def excision_mask(chi: np.ndarray, chi_excision: float, dilate: int) -> np.ndarray:
    """Bool (X, Y, Z): singular interiors, dilated by ``dilate`` cells (cube neighbourhood).

    A cell is singular if chi < ``chi_excision`` or if it is a local minimum of chi (over its
    3^3 neighbours) with chi < ``PUNCTURE_CHI``: a puncture that falls between cell centres,
    or the r = 0 singularity of Kerr-Schild data (chi = (1 + 2M/r)^(-1/3) stays ~0.3 there),
    leaves no cell below the threshold, and the truncation error beside it would drive the
    whole step.
    """
    local_min = chi <= scipy.ndimage.minimum_filter(chi, size=3, mode="nearest")
    inside = (chi < chi_excision) | (local_min & (chi < PUNCTURE_CHI))
    if dilate > 0 and inside.any():
        inside = scipy.ndimage.binary_dilation(inside, np.ones((3, 3, 3), bool), dilate)
    return inside


def _apply(vars25: np.ndarray, psi: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Data with psi -> psi + u: chi = (psi + u)^-4, A_ij rescaled by (chi_new/chi)^(3/2)."""
    out = vars25.copy()
    chi_new = np.clip(psi + u, 1e-3, None) ** -4.0
    out[C_A] = vars25[C_A] * (chi_new / vars25[IDX["chi"]]) ** 1.5
    out[IDX["chi"]] = chi_new
    return out


def newton_direction(
    vars25: np.ndarray, dx: float, free: np.ndarray, restart: int = 40, restarts: int = 3
) -> tuple[np.ndarray, dict]:
    """Solve J u = -Ham on the ``free`` cells (bool (X, Y, Z)); returns u (X, Y, Z), info."""
    x = torch.from_numpy(np.ascontiguousarray(vars25))[None]
    with torch.no_grad():
        parts = ham_parts(x, dx)
    chi = x[:, IDX["chi"]]
    psi = chi[0].numpy() ** -0.25
    ham = ham_of_chi(chi, parts, dx)[0].numpy()
    fi = free[2:-2, 2:-2, 2:-2]
    if not np.any(ham[fi]):
        return np.zeros(free.shape), {"gmres_iterations": 0, "linear_rel_residual": 0.0}
    dpsi_dchi = torch.from_numpy(-4.0 * psi**-5)[None]  # d chi / d psi

    def matvec(v: np.ndarray) -> np.ndarray:
        full = np.zeros(free.shape)
        full[free] = v
        full = fill_ghosts(full)
        tang = dpsi_dchi * torch.from_numpy(full)[None]
        with torch.no_grad():
            _, jv = torch.func.jvp(lambda c: ham_of_chi(c, parts, dx), (chi,), (tang,))
        return jv[0].numpy()[fi]

    lap_inv = dst_laplacian_inverse(fi.shape, dx)
    psi_in = psi[2:-2, 2:-2, 2:-2]

    def precond(r: np.ndarray) -> np.ndarray:
        box = np.zeros(fi.shape)
        box[fi] = -(psi_in[fi] ** 5) * r / 8.0
        return lap_inv(box)[fi]

    rhs = -ham[fi]
    sol, info = gmres_solve(matvec, precond, rhs, restart, restarts)
    u = np.zeros(free.shape)
    u[free] = sol
    return fill_ghosts(u), info


def newton_correct(  # noqa: PLR0913
    vars25: np.ndarray,
    dx: float,
    iterations: int = 1,
    momentum: bool = True,
    chi_excision: float = CHI_EXCISION,
    dilate: int = 2,
    mom_restarts: int = 8,
    restart: int = 40,
    extra_iterations: int = 2,
    guard: bool = True,
) -> tuple[np.ndarray, NewtonReport]:
    """Run ``iterations`` guarded Newton steps (module docstring).

    Coupled conformal-factor + CTT momentum steps when ``momentum``, else conformal-factor
    steps only. Each step is halved (up to 3 times) until it lowers the constraint it
    targets; the result is the last state that is no worse than the input (5%) in median and
    RMS |Ham| and ||Mom|| on the input's cells, or the input itself. When the state after
    ``iterations`` steps is still worse than the input, up to ``extra_iterations`` more steps
    are taken: on a fine grid the input's own (truncation-level) median ||Mom|| is small, and
    the second-order error a first Newton step leaves in Mom needs one more step to fall
    below it (Bowen-York at 32^3: 11.5x, then 1.3x worse after two steps). ``guard=False``
    returns the state after the steps whatever it measures (for convergence studies).

    Returns the corrected (25, X, Y, Z) data and a :class:`NewtonReport`.
    """
    t0 = time.perf_counter()
    chi0 = vars25[IDX["chi"]]
    free = np.zeros(chi0.shape, bool)
    free[2:-2, 2:-2, 2:-2] = True
    excised = excision_mask(chi0, chi_excision, dilate) & free
    free &= ~excised
    # the momentum step solves on every measured cell (chi >= threshold): it is linear, and a
    # band left out would keep the Mom the conformal-factor step put there
    free_mom = np.zeros(chi0.shape, bool)
    free_mom[2:-2, 2:-2, 2:-2] = chi0[2:-2, 2:-2, 2:-2] >= chi_excision
    rep = NewtonReport(excised_cells=int(excised.sum()), unknowns=int(free.sum()))
    if not free.any() or not cell_mask(vars25, chi_excision).any():
        rep.stopped = "nothing to correct"
        return vars25.copy(), rep
    kind = "both" if momentum else "ham"
    cells = {
        "ham": (free, 40, 3),
        "mom": (free_mom, restart, mom_restarts),
        "both": (free, restart, mom_restarts),
    }
    current, cur_cmp = vars25, compare(vars25, vars25, dx, chi_excision)
    best, rep.stopped = vars25, "no step passed the 5% guard"
    while len(rep.steps) < iterations + extra_iterations:
        if len(rep.steps) >= iterations and best is current:
            break
        trial, info, cmp = _step(kind, vars25, current, cur_cmp, dx, cells[kind], chi_excision)
        info = {"kind": kind, **info, "worse": worse(cmp) if trial is not None else []}
        if kind == "both" and guard:
            trial, info, cmp = _ladder(
                (trial, info, cmp),
                partial(_step, "ham", vars25, current, cur_cmp, dx, cells["ham"], chi_excision),
            )
            if info.get("why"):
                rep.ladder.append(f"step {len(rep.steps) + 1}: {info['why']}")
        rep.steps.append(info)
        if trial is None:
            break  # no improving step from here: another try would repeat this one
        current, cur_cmp = trial, cmp
        if not worse(cmp) or not guard:
            best = trial
            rep.stopped = f"{len(rep.steps)} steps, last accepted {info['kind']}"
    rep.wall_s = time.perf_counter() - t0
    return (best.copy() if best is vars25 else best), rep


COUPLED_TOL = 1e-6
"""Relative linear residual the coupled step's GMRES must reach for its step to be trusted."""


def _ladder(coupled: tuple, conformal_step: Callable[[], tuple]) -> tuple:
    """Which step to take: the coupled (Ham + Mom) step, or the conformal (Ham-only) step.

    ``coupled`` = (trial or None, info, measurement) of the coupled step; ``conformal_step()``
    computes the same for the conformal step from the same state. The coupled step is taken
    when its GMRES reached :data:`COUPLED_TOL` and its result is no worse than the input (5%).
    Otherwise the conformal step is tried and taken if *it* is no worse than the input (of two
    results no worse than the input, the one with the smaller summed log ratio of the four
    guarded norms: an unconverged coupled step can still be the better one); if it
    is worse too, the coupled step is taken as before (a later step may still bring it below
    the input, else the guard returns the input). ``info["why"]`` says what was decided.
    """
    trial, info, cmp = coupled
    res = info.get("linear_rel_residual", 0.0)
    reached = res <= COUPLED_TOL
    if reached and (trial is None or not info["worse"]):
        return coupled  # a converged step that is no worse, or no improving step at all
    if not reached:
        reason = f"coupled step stopped at residual {res:.1e} (not converged)"
    else:
        reason = "coupled step worse than the input: " + "; ".join(info["worse"])
    h_trial, h_info, h_cmp = conformal_step()
    h_worse = worse(h_cmp) if h_trial is not None else ["no improving conformal step"]
    if not h_worse and trial is not None and not info["worse"] and _score(cmp) <= _score(h_cmp):
        why = f"{reason}, but no worse than the input and better than the conformal step; used it"
        return trial, {**info, "why": why}, cmp
    if h_trial is not None and not h_worse:
        h_info = {"kind": "ham", **h_info, "worse": [], "coupled": info}
        h_info["why"] = f"{reason}; used the conformal step"
        return h_trial, h_info, h_cmp
    info = {**info, "why": f"{reason}; the conformal step is worse too ({'; '.join(h_worse)})"}
    info["why"] += "; kept the coupled step" if trial is not None else "; no step taken"
    return trial, info, cmp


def _score(cmp: dict) -> float:
    """Sum of log ratios after/before of the guarded norms (lower: better)."""
    return float(sum(np.log(max(cmp["ratio"][k], 1e-300)) for k in GUARDED))


def _step(
    kind: str,
    vars25: np.ndarray,
    current: np.ndarray,
    cur_cmp: dict,
    dx: float,
    cells: tuple[np.ndarray, int, int],
    chi_excision: float,
) -> tuple[np.ndarray | None, dict, dict]:
    """One step of ``kind`` (ham: conformal factor, mom: CTT) from ``current``, halved up to
    3 times until its own constraint (median or RMS on the input's cells) goes down.
    ``cells`` = (unknown cells, GMRES restart length, restarts).
    """
    from nrfix.momentum import apply_coupled, coupled_direction, momentum_direction

    if kind == "ham":
        u, info = newton_direction(current, dx, *cells)
        psi = current[IDX["chi"]] ** -0.25
    elif kind == "both":
        u, w, info = coupled_direction(current, dx, *cells)
        if info["linear_rel_residual"] > COUPLED_TOL:
            # (L W) extrapolated onto the ghost layers is what converges on smooth fine data;
            # beside punctures the same system can diverge, and holding A_ij on the ghost
            # layers converges there: keep whichever reached the smaller residual
            held = coupled_direction(current, dx, *cells, hold_ghosts=True)
            if held[2]["linear_rel_residual"] < info["linear_rel_residual"]:
                u, w, info = held
    else:
        da, info = momentum_direction(current, dx, *cells)
    alpha, key = 1.0, "ham" if kind == "both" else kind
    for _ in range(4):
        if kind == "ham":
            trial = _apply(current, psi, alpha * u)
        elif kind == "both":
            trial = apply_coupled(current, dx, alpha * u, alpha * w, info.get("hold_ghosts", False))
        else:
            trial = current.copy()
            trial[C_A] += alpha * da
        cmp = compare(vars25, trial, dx, chi_excision)
        now, was = cmp["after"], cur_cmp["after"]
        if now[f"{key}_median"] < was[f"{key}_median"] or now[f"{key}_rms"] < was[f"{key}_rms"]:
            return trial, {**info, "step_length": alpha}, cmp
        alpha *= 0.5
    return None, {**info, "step_length": 0.0}, cur_cmp
