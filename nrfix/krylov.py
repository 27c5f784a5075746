"""Right-preconditioned restarted GMRES for the Newton prior's linear systems."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse.linalg as spla


def gmres_right(
    matvec: Callable[[np.ndarray], np.ndarray],
    precond: Callable[[np.ndarray], np.ndarray],
    rhs: np.ndarray,
    restart: int,
    restarts: int,
    rtol: float = 1e-8,
) -> tuple[np.ndarray, int]:
    """Right-preconditioned restarted GMRES: solve A M y = rhs, return x = M y, iterations.

    scipy's ``gmres(M=...)`` is left-preconditioned: it minimises ||M (rhs - A x)||, and where
    M is a poor inverse (odd-even modes of the wide momentum stencil) the true residual can
    end larger than ||rhs||. Right preconditioning minimises the true residual itself, so it
    never ends above ||rhs|| and the tolerance is on the residual the constraints see.
    """
    n = rhs.size
    a_m = spla.LinearOperator((n, n), matvec=lambda y: matvec(precond(y)), dtype=np.float64)
    counter = {"n": 0}
    y, _ = spla.gmres(
        a_m, rhs, rtol=rtol, restart=restart, maxiter=restarts,
        callback=lambda _r: counter.__setitem__("n", counter["n"] + 1),
        callback_type="pr_norm",
    )  # fmt: skip
    return precond(y), counter["n"]
