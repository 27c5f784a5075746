"""The constraint left after correction falls at 4th order from dx to dx/2 (issue 25).

Measured as in bench/nrfix_convergence.py: the same Bowen-York data on a patch away from the
punctures at dx and dx/2 (common points), corrected by the prior's Newton steps, continuum
Ham estimated by a 6th-order Richardson evaluation of the constraint core.
"""

from __future__ import annotations

import numpy as np
import pytest

from nrfix.convergence import MARGIN, aligned_grids, continuum_constraints, convergence_norms
from nrfix.newton import newton_correct

BOX = 4.0
PUNCTURES = [  # below the patch [-2, 2]^3 (shifted): like a refinement level off the holes
    {"m": 0.5, "pos": [1.1, 0.0, -4.0], "P": [0.0, 0.3, 0.0], "S": [0.0, 0.0, 0.3]},
    {"m": 0.15, "pos": [-1.1, 0.2, -4.1], "P": [0.0, -0.3, 0.0], "S": [0.2, 0.0, 0.0]},
]


def _region(n: int, margin: int = 5) -> np.ndarray:
    keep = np.zeros((n - 2 * MARGIN,) * 3, bool)
    e = margin - MARGIN
    keep[e : keep.shape[0] - e, e : keep.shape[1] - e, e : keep.shape[2] - e] = True
    return keep


def test_richardson_estimate_is_sixth_order_on_exact_data():
    params = {"punctures": [{"m": 0.5, "pos": [0.2, 0.1, -3.0]}]}
    (xc, dxc, _), (xf, dxf, _) = aligned_grids("brill_lindquist", params, 13, BOX)
    out = convergence_norms(xc, xf, (dxc, dxf), _region(13))
    assert out["ham_order"] > 5.0, out  # exact data: only the measurement's O(dx^6) is left
    ham, mom = continuum_constraints(xc, dxc)
    assert ham.shape == (13 - 8,) * 3 and mom.shape == (3,) + ham.shape


def test_constraint_left_after_correction_is_fourth_order():
    params = {"punctures": PUNCTURES}
    (xc, dxc, _), (xf, dxf, _) = aligned_grids("bowen_york", params, 13, BOX)
    before = convergence_norms(xc, xf, (dxc, dxf), _region(13))
    assert 0.8 < before["ham_ratio"] < 1.25, before  # a physical violation does not converge
    opts = {"iterations": 2, "momentum": False, "guard": False, "extra_iterations": 0}
    yc, _ = newton_correct(xc, dxc, **opts)
    yf, _ = newton_correct(xf, dxf, **opts)
    after = convergence_norms(yc, yf, (dxc, dxf), _region(13))
    assert after["ham_rms_coarse"] < 0.05 * before["ham_rms_coarse"], after
    assert after["ham_order"] == pytest.approx(4.0, abs=0.7), after


def test_grids_too_small_for_the_estimate_are_refused():
    with pytest.raises(ValueError, match="too small"):
        continuum_constraints(np.zeros((25, 12, 12, 12)), 0.1)
