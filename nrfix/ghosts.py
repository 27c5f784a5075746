"""Ghost layers of a correction, so that the corrected fields stay smooth across the boundary.

The Newton prior's unknowns are interior cells; its corrections (the conformal-factor change u,
the CTT vector W) must still be defined on the 2 ghost layers, which the 4th-order stencils of
the first interior cells read. The boundary condition (u = 0, W = 0) sits on the inner ghost
layer and the outermost layer continues the interior smoothly through it
(:func:`fill_ghosts`); derived corrections such as delta A_ij = chi^(3/2) (L W)_ij are
evaluated on the interior and extrapolated onto the ghost layers (:func:`extrapolate_ghosts`).

Holding the corrections at 0 on both ghost layers put a kink into chi and A_ij at the
boundary: the first interior cells then carried a momentum-constraint truncation error many
times the input's, and the coupled Ham + Mom system became one that GMRES with the Dirichlet
DST preconditioner did not solve (relative residual stuck near 1e-4 at dx = 0.105, W dominated
by odd-even modes).
"""

from __future__ import annotations

import numpy as np
import torch


def fill_ghosts(u: np.ndarray) -> np.ndarray:
    """Outer ghost layers of a correction u (..., X, Y, Z) that is zero outside the interior.

    The boundary condition u = 0 sits on the inner ghost layer (index 1 and -2 of every axis);
    the outermost layer (0 and -1) is the cubic extrapolation through it,
    u_0 = 4 u_1 - 6 u_2 + 4 u_3 - u_4 with u_1 = 0, so u stays smooth across the boundary.
    Axis by axis, so edge and corner ghosts are the tensor-product extrapolation.
    """
    out = u.copy()
    for ax in range(u.ndim - 3, u.ndim):
        o = np.moveaxis(out, ax, 0)  # a view: writing o writes out
        o[1], o[-2] = 0.0, 0.0
        o[0] = -6.0 * o[2] + 4.0 * o[3] - o[4]
        o[-1] = -6.0 * o[-3] + 4.0 * o[-4] - o[-5]
    return out


def extrapolate_ghosts(t: torch.Tensor) -> torch.Tensor:
    """Replace the 2 ghost layers of every spatial axis of t (..., X, Y, Z) by the cubic
    extrapolation of the interior (layer 1 from 2..5, layer 0 from 1..4; mirrored).
    """
    for ax in (-3, -2, -1):
        a = [t.narrow(ax, i, 1) for i in (2, 3, 4, 5)]
        b = [t.narrow(ax, t.shape[ax] - 1 - i, 1) for i in (2, 3, 4, 5)]
        lo1 = 4 * a[0] - 6 * a[1] + 4 * a[2] - a[3]
        lo0 = 4 * lo1 - 6 * a[0] + 4 * a[1] - a[2]
        hi1 = 4 * b[0] - 6 * b[1] + 4 * b[2] - b[3]
        hi0 = 4 * hi1 - 6 * b[0] + 4 * b[1] - b[2]
        mid = t.narrow(ax, 2, t.shape[ax] - 4)
        t = torch.cat([lo0, lo1, mid, hi1, hi0], dim=ax)
    return t
