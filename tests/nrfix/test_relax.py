"""The learned relaxation of the cells the prior holds (``model.relax_steps``, nrfix.relax)."""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
import torch

from nrfix import api
from nrfix.constraints import IDX
from nrfix.data import make_split
from nrfix.newton import excision_mask
from nrfix.prior_train import prior_loss
from nrfix.relax import PriorRelax, build, relax

SMALL = ["data.n_train=1", "data.grid=12", "data.crop=8"]


@functools.cache
def _bowen_york() -> tuple[torch.Tensor, torch.Tensor, float]:
    """A Bowen-York training grid and the prior's output on it (2 Newton steps)."""
    from nrfix.newton import newton_correct

    cfg = api.make_config("prior_relax", sets=SMALL)
    g = make_split(cfg.data, "train")[0]  # Bowen-York
    assert g.attrs["family"] == "bowen_york"
    y, _ = newton_correct(g.vars, g.dx, iterations=2)
    return torch.from_numpy(g.vars)[None], torch.from_numpy(y)[None], g.dx


def _relaxed(steps: int, size: float, select: bool) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """The prior's output, the relaxed output (``steps`` steps of one fixed size; with
    ``select`` the iterate checked against the input) and its after/before ratios against the
    prior's output."""
    from nrfix.measure import compare

    x, p, dx = _bowen_york()
    size_t = torch.full((steps,), size, dtype=torch.float64)
    with torch.no_grad():
        y = relax(p, dx, size_t, size_t, select, reference=x)
    return p, y, compare(p[0].numpy(), y[0].numpy(), dx)["ratio"]


def test_zero_steps_return_the_input_and_the_preset_builds_the_relaxation():
    cfg = api.make_config("prior_relax")
    model = build(cfg)
    assert isinstance(model, PriorRelax) and model.alphas.numel() == cfg.model.relax_steps
    x, p, dx = _bowen_york()
    with torch.no_grad():
        assert torch.equal(model(p, dx, x), p)


def test_steps_change_only_held_cells_above_the_excision_and_lower_the_rms():
    x, y, ratio = _relaxed(4, 0.2, select=False)
    changed = (y != x).any(dim=1)[0].numpy()
    chi = x[0, IDX["chi"]].numpy()
    allowed = excision_mask(chi, 0.05, 2) & (chi >= 0.05)
    assert changed.any() and not (changed & ~allowed).any()
    assert ratio["ham_rms"] * ratio["mom_rms"] < 0.9, ratio


def test_iterate_selection_never_returns_a_worse_state_than_the_prior():
    """A huge step size diverges; the returned iterate is then the prior's output (or a better
    one)."""
    from nrfix.measure import GUARDED

    _, _, ratio = _relaxed(3, 50.0, select=True)
    assert sum(np.log(ratio[k]) for k in GUARDED) <= 1e-12, ratio


def test_loss_gradient_reaches_every_step_size():
    _, x, dx = _bowen_york()
    from nrfix.measure import cell_mask
    from nrfix.prior_train import _norms

    mask = torch.from_numpy(cell_mask(x[0].numpy()))[None]
    with torch.no_grad():
        ham, mom = _norms(x, dx, mask)
    item = {"x": x[0].numpy(), "prior": x, "dx": dx, "mask": mask, "ham": ham, "mom": mom}
    model = PriorRelax(2)
    with torch.no_grad():
        model.alphas.fill_(0.1)
        model.betas.fill_(0.1)
    prior_loss(model(x, dx), item, 0.5, 1.0).backward()
    assert torch.isfinite(model.alphas.grad).all() and (model.alphas.grad != 0).all()
    assert torch.isfinite(model.betas.grad).all() and (model.betas.grad != 0).all()


def test_the_config_floors_reach_the_projection():
    cfg = api.make_config("prior_relax")
    cfg = replace(cfg, model=replace(cfg.model, chi_floor=0.2, lapse_floor=0.3))
    model = build(cfg)
    assert model.floors == (0.2, 0.3)
    x, p, dx = _bowen_york()
    with torch.no_grad():
        steps = torch.full((len(model.alphas),), 0.5, dtype=torch.float64)
        low = relax(p, dx, steps, steps, False, x)
        high = relax(p, dx, steps, steps, False, x, model.floors)
    assert not torch.equal(low, high)  # the default floors (1e-4) would clamp nothing here
