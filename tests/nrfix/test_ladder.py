"""The Newton prior's step ladder: coupled step, else the conformal step, else the guard."""

from __future__ import annotations

import numpy as np
import pytest

import nrfix.momentum
from nrfix.constraints import IDX
from nrfix.correct import steps_used
from nrfix.data import generate
from nrfix.measure import GUARDED, compare, worse
from nrfix.newton import COUPLED_TOL, _ladder, excision_mask, newton_correct, newton_direction

N, BOX = 16, 6.0
DX = BOX / N
ORIGIN = np.full(3, -BOX / 2 + DX / 2)
BL = {"punctures": [{"m": 0.5, "pos": [0.7, 0.1, 0.05]}, {"m": 0.1, "pos": [-1.0, 0.1, 0.05]}]}


def _cmp(ratio: float) -> dict:
    return {
        "before": dict.fromkeys(GUARDED, 1.0),
        "after": dict.fromkeys(GUARDED, ratio),
        "ratio": dict.fromkeys(GUARDED, ratio),
    }


def _stub(res: float, ratio: float) -> tuple:
    cmp = _cmp(ratio)
    info = {"kind": "both", "linear_rel_residual": res, "worse": worse(cmp)}
    return np.full(3, ratio), info, cmp


def _conformal(ratio: float):
    return lambda: (np.full(3, -ratio), {"linear_rel_residual": 1e-9}, _cmp(ratio))


def test_converged_coupled_step_no_worse_is_used_as_is():
    called = []
    out = _ladder(_stub(1e-9, 0.5), lambda: called.append(1))
    assert out[1]["kind"] == "both" and "why" not in out[1] and not called


@pytest.mark.parametrize(
    "coupled, reason",
    [((1.5e-4, 0.95), "stopped at residual 1.5e-04 (not converged)"), ((1e-9, 8.0), "worse")],
)
def test_conformal_step_used_when_coupled_fails(coupled, reason):
    trial, info, _ = _ladder(_stub(*coupled), _conformal(0.9))
    assert info["kind"] == "ham" and trial[0] == -0.9
    assert reason in info["why"] and info["why"].endswith("used the conformal step")
    assert info["coupled"]["linear_rel_residual"] == coupled[0]


@pytest.mark.parametrize("conformal, used", [(0.9, "both"), (0.2, "ham")])
def test_unconverged_coupled_step_no_worse_competes_with_the_conformal_step(conformal, used):
    _, info, _ = _ladder(_stub(1.5e-4, 0.5), _conformal(conformal))
    assert info["kind"] == used and "not converged" in info["why"]


def test_both_worse_keeps_coupled_step_for_the_guard():
    trial, info, cmp = _ladder(_stub(1.5e-4, 8.0), _conformal(1.5))
    assert info["kind"] == "both" and trial[0] == 8.0 and worse(cmp)
    assert "conformal step is worse too" in info["why"]


def _free(x: np.ndarray) -> np.ndarray:
    free = np.zeros(x.shape[1:], bool)
    free[2:-2, 2:-2, 2:-2] = True
    return free & ~excision_mask(x[0], 0.05, 2)


@pytest.mark.parametrize("mode", ["stagnated", "worse"])
def test_newton_correct_falls_back_to_the_conformal_step(monkeypatch, mode):
    """Exact Brill-Lindquist data: a stubbed coupled step that did not converge, or that
    converged but puts momentum violation into A_ij (Mom = 0 in the input), is replaced by the
    conformal step, which is no worse than the input; the report says so."""
    x = generate("brill_lindquist", BL, (N,) * 3, DX, ORIGIN).vars
    rng = np.random.default_rng(0)

    def coupled(vars25, dx, free, *_a, **_k):
        u, _ = newton_direction(vars25, dx, free)
        if mode == "stagnated":
            return 0.5 * u, np.zeros((3, *free.shape)), {"linear_rel_residual": 1.5e-4}
        w = np.zeros((3, *free.shape))
        w[:, free] = 1e-3 * rng.normal(size=(3, int(free.sum())))
        return u, w, {"linear_rel_residual": 1e-9}

    monkeypatch.setattr(nrfix.momentum, "coupled_direction", coupled)
    y, rep = newton_correct(x, DX, iterations=1, extra_iterations=0)
    cmp = compare(x, y, DX)
    assert worse(cmp) == [] and cmp["ratio"]["ham_median"] < 0.5
    assert rep.steps[0]["kind"] == "ham" and "used the conformal step" in rep.ladder[0]
    assert rep.stopped == "1 steps, last accepted ham"
    # A_ij is the input's up to the conformal rescaling: no W was added
    assert np.abs(y[IDX["A11"] :][:6]).max() == 0.0
    assert steps_used({"report": {"ladder": rep.ladder}}) == rep.ladder


def test_converged_coupled_step_needs_no_ladder():
    """Real coupled step on exact data: it reaches its tolerance and nothing falls back."""
    x = generate("brill_lindquist", BL, (N,) * 3, DX, ORIGIN).vars
    y, rep = newton_correct(x, DX, iterations=1, extra_iterations=0)
    assert rep.steps[0]["kind"] == "both" and rep.ladder == []
    assert rep.steps[0]["linear_rel_residual"] <= COUPLED_TOL
    assert worse(compare(x, y, DX)) == []


def test_exact_flat_data_pass_through_unchanged():
    x = generate(
        "brill_lindquist", {"punctures": [{"m": 0.0, "pos": [0, 0, 0]}]}, (N,) * 3, DX, ORIGIN
    ).vars
    y, rep = newton_correct(x, DX)
    assert np.array_equal(y, x) and rep.ladder == []
