"""The library facade a notebook user imports: every public name exists, the whole path
(config -> train -> load -> read -> correct -> measure) runs without the CLI, and problems a
user can cause are ``UserError``s (never Click exceptions)."""

from __future__ import annotations

import click
import pytest

from common.config import ConfigError
from common.errors import UserError
from nrfix import api


def test_all_names_exist():
    missing = [n for n in api.__all__ if not hasattr(api, n)]
    assert not missing


def test_notebook_path(trained, tmp_path):
    cfg = api.make_config("tiny", sets=["train.steps=2"])
    result = api.train(cfg, tmp_path / "run", data_dir=trained / "data")
    assert result["step"] == 2
    model, cfg2 = api.load_model(tmp_path / "run/checkpoints/best.pt")
    assert cfg2 == cfg and not model.training
    grid = api.read_grid(trained / "data/test_000.h5")
    fixed = api.correct_grid(model, grid.vars, 8, 4, dx=grid.dx)
    assert fixed.shape == grid.vars.shape
    rows = api.evaluate_files([trained / "data/test_000.h5"])
    assert rows[str(trained / "data/test_000.h5")]["cells"] > 0
    figs = api.plot_hist(trained / "data/test_000.h5", [], tmp_path / "figs")
    assert [p.name for p in figs] == ["hist.png", "slices.png", "tradeoff.png"]


@pytest.mark.parametrize(
    "call",
    [
        lambda t, tmp: api.read_grid(tmp / "missing.h5"),
        lambda t, tmp: api.make_config("tiny", sets=["model.channels=0"]),
        lambda t, tmp: api.make_config("tiny", overrides={"data.family": "kerr"}),
        lambda t, tmp: api.load_model(t / "data/test_000.h5"),
        lambda t, tmp: api.train(api.make_config("tiny"), tmp / "run", data_dir=tmp),
        lambda t, tmp: api.train(api.make_config("tiny"), tmp / "run", resume=True),
        lambda t, tmp: api.evaluate_files([t / "data/test_000.h5"], chi_excision=0.9999),
        lambda t, tmp: api.solve_file(t / "data/test_000.h5", tmp / "blocker/x.h5"),
    ],
    ids=["read", "config-range", "config-choice", "ckpt", "data", "resume", "excise", "write"],
)
def test_user_errors_are_not_click_errors(call, trained, tmp_path):
    (tmp_path / "blocker").write_text("")
    with pytest.raises(UserError) as info:
        call(trained, tmp_path)
    assert not isinstance(info.value, click.ClickException)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()


def test_config_error_is_a_user_error():
    assert issubclass(ConfigError, UserError)
