"""Training with the source prior: the gain learns, best.pt is chosen by the validation
median |Ham|, and a reloaded checkpoint corrects a held-out grid through ``correct_grid``."""

from __future__ import annotations

import json

import pytest

from common.config import ConfigError, load_config
from nrfix.api import correct_grid, summarize
from nrfix.config import PRESETS_DIR, Config
from nrfix.data import make_split
from nrfix.train import fit, load_model

PRIOR = {
    "model.output_operator": "poisson",
    "model.source_prior": True,
    "loss.mode": "log_ratio",
    "loss.log_floor": 1e-6,
    "train.select_by": "ham_median",
    "train.gain_lr": 0.1,
    "train.steps": 8,
}


def test_prior_gain_learns_and_checkpoint_corrects(tmp_path):
    cfg = load_config(Config, preset="tiny", presets_dir=PRESETS_DIR, overrides=PRIOR)
    fit(cfg, tmp_path / "run")
    rows = [json.loads(r) for r in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert [r["prior_gain"] for r in rows if "prior_gain" in r][-1] > 0.3  # from 0, 8 steps
    assert any("val_log10_ham_median_ratio" in r for r in rows)
    model, cfg2 = load_model(tmp_path / "run/checkpoints/best.pt")
    assert cfg2.model.source_prior and float(model.prior_gain.detach()) > 0.1
    grid = make_split(cfg.data, "test")[0]
    fixed = correct_grid(model, grid.vars, 16, 4, dx=grid.dx)
    before, after = summarize(grid.vars, grid.dx), summarize(fixed, grid.dx)
    assert after["ham_median"] < 0.8 * before["ham_median"]


def test_unknown_selection_rule_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="select_by"):
        load_config(
            Config, preset="tiny", presets_dir=PRESETS_DIR, overrides={"train.select_by": "psnr"}
        )
