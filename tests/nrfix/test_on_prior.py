"""The learned correction on top of the residual-driven prior (``model.on_prior``): the family
mix, the network's reach (only the cells the prior holds), training with checkpoint selection
on the validation grids, and whether it beats the prior alone on a held-out mix."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nrfix import api
from nrfix.data import MIX_KINDS, make_split
from nrfix.model import build_model, prior_held
from nrfix.newton import excision_mask

TINY = [
    "data.n_train=4",
    "data.n_val=2",
    "data.grid=12",
    "data.crop=8",
    "train.steps=20",
    "train.ckpt_every=10",
]


def test_mix_has_every_kind_at_two_dx_and_finite_grids():
    cfg = api.make_config("prior_mix", sets=["data.n_train=8", "data.grid=10", "data.crop=8"])
    grids = make_split(cfg.data, "train")
    assert len(grids) == 8 == 2 * len(MIX_KINDS)
    assert sorted({round(g.dx, 6) for g in grids}) == [round(6 / 14, 6), round(6 / 10, 6)]
    assert {g.attrs["family"] for g in grids} == {"bowen_york", "kerr_schild"}
    assert any("transform" in g.attrs for g in grids)  # the warped kind
    assert max(len(g.attrs["punctures"]) for g in grids if g.attrs["family"] == "kerr_schild") == 2
    assert all(np.isfinite(g.vars).all() for g in grids)


def test_network_changes_only_cells_the_prior_holds():
    cfg = api.make_config("prior_mix")
    small = api.make_config("prior_mix", sets=["data.grid=12", "data.crop=8"])
    grid = make_split(small.data, "val")[0]
    x = torch.from_numpy(grid.vars)[None]
    model = build_model(cfg)
    with torch.no_grad():
        assert torch.equal(model(x), x)  # untrained: the prior's output, bit for bit
        off = x.clone()
        off[:, 1:7] *= 1.001  # det h != 1, as in evolved data: still not projected
        assert torch.equal(model(off), off)
        torch.nn.init.normal_(model.tail.weight, std=0.1)
        y = model(x)
    changed = (y != x).any(dim=1)[0].numpy()
    held = prior_held(x, dilate=1)[0, 0].numpy() > 0
    assert changed.any() and not (changed & ~held).any()
    # the torch mask is the Newton prior's own excision (scipy), dilated by 1 instead of 2
    assert np.array_equal(held, excision_mask(grid.vars[0], 0.05, 1))


def test_train_on_prior_selects_on_validation_grids(tmp_path, monkeypatch):
    # the selection machinery, not the prior: the Newton steps are replaced by the identity
    monkeypatch.setattr("nrfix.newton.newton_correct", lambda x, dx, **_: (x.copy(), None))
    cfg = api.make_config("prior_mix", sets=TINY)
    api.train(cfg, tmp_path / "run")
    rows = [json.loads(r) for r in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    val = [r for r in rows if "val_guarded_gain" in r]
    assert [r["step"] for r in val] == [0, 10, 20]
    assert val[0]["val_guarded_gain"] == pytest.approx(val[0]["val_guarded_gain_prior"])
    best = torch.load(tmp_path / "run/checkpoints/best.pt", weights_only=True)
    assert best["extra"]["best_val"] == pytest.approx(min(r["val_guarded_gain"] for r in val))
    model, cfg2 = api.load_model(tmp_path / "run/checkpoints/best.pt")
    assert cfg2.model.on_prior and cfg2.data.family == "mix"


@pytest.mark.slow
def test_loss_gradient_at_the_prior_is_not_dominated_by_solved_cells():
    """At the prior's output most cells are solved to ~1e-10; the cell-wise log term must not
    let them dominate (floored at the median it gave a gradient ~3e7, and training moved
    uphill from the first step; the RMS terms alone give ~0.2)."""
    from nrfix.measure import cell_mask
    from nrfix.newton import newton_correct
    from nrfix.prior_train import _norms, prior_loss

    cfg = api.make_config("prior_mix", sets=["data.n_train=1", "data.grid=12", "data.crop=8"])
    g = make_split(cfg.data, "train")[0]  # Bowen-York
    y, _ = newton_correct(g.vars, g.dx, iterations=2)
    x, mask = torch.from_numpy(y)[None], torch.from_numpy(cell_mask(g.vars))[None]
    with torch.no_grad():
        ham, mom = _norms(x, g.dx, mask)
    item = {"x": g.vars, "prior": x, "dx": g.dx, "mask": mask, "ham": ham, "mom": mom}
    model = build_model(cfg)
    prior_loss(model(x), item, cfg.loss.cell_weight, cfg.loss.mom_weight).backward()
    grad = torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf"))
    assert 0 < float(grad) < 10
