"""Free-space inverse of the 4th-order finite-difference Laplacian, by zero-padded FFT.

Used by the ``poisson`` output operator of :class:`nrfix.model.NRFixNet`: the network predicts
the (local) source s of the conformal-factor equation and u = L^-1 s, so the Hamiltonian
constraint, which sees u only through its Laplacian, receives exactly the predicted source.
Grid units (dx = 1): the network's source absorbs dx^2, as its convolutions absorb dx.

The grid is zero-padded to twice its size per axis and inverted with the symbol of the same
5-point stencil (-1, 16, -30, 16, -1)/12 the constraint check uses, so L u = s holds to
rounding inside the original grid. The periodic inverse drops the zero mode, i.e. it solves
L u = s - <s> with <s> the mean of the padded source; adding <s> |x|^2 / 6 (the stencil is exact
on quadratics, L |x|^2 = 6) restores L u = s exactly. Without it a strong source next to a
puncture would shift the Laplacian everywhere by <s>, more than the typical |Ham| in the bulk.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    import numpy as np


def _symbol(n: int, dtype: torch.dtype, device: torch.device, half: bool) -> torch.Tensor:
    """1D Fourier symbol of the 4th-order second-difference stencil on n points (dx = 1)."""
    k = torch.arange(n // 2 + 1 if half else n, dtype=dtype, device=device)
    theta = 2.0 * math.pi * k / n
    return (-2.0 * torch.cos(2 * theta) + 32.0 * torch.cos(theta) - 30.0) / 12.0


def inverse_laplacian(s: torch.Tensor) -> torch.Tensor:
    """U with L u = s (B, C, D, H, W), free-space boundary (zero padding to 2x per axis)."""
    dims = s.shape[-3:]
    padded = [2 * n for n in dims]
    spec = torch.fft.rfftn(s, s=padded, dim=(-3, -2, -1))
    lx = _symbol(padded[0], s.dtype, s.device, False).view(-1, 1, 1)
    ly = _symbol(padded[1], s.dtype, s.device, False).view(1, -1, 1)
    lz = _symbol(padded[2], s.dtype, s.device, True).view(1, 1, -1)
    lam = lx + ly + lz  # < 0 except the zero mode k = 0
    lam[0, 0, 0] = 1.0
    inv = 1.0 / lam
    inv[0, 0, 0] = 0.0
    u = torch.fft.irfftn(spec * inv, s=padded, dim=(-3, -2, -1))
    u = u[..., : dims[0], : dims[1], : dims[2]]
    mean = s.sum(dim=(-3, -2, -1), keepdim=True) / math.prod(padded)
    r2 = 0
    for ax, n in enumerate(dims):
        c = torch.arange(n, dtype=s.dtype, device=s.device) - (n - 1) / 2
        r2 = r2 + (c**2).view([n if a == ax else 1 for a in range(3)])
    return u + mean * r2 / 6.0


def dst_laplacian_inverse(shape: tuple[int, ...], dx: float) -> Callable[[np.ndarray], np.ndarray]:
    """Function r -> u with L u = r on a box of ``shape`` cells.

    u = 0 outside (odd reflection), L the 4th-order stencil (-1, 16, -30, 16, -1) / (12 dx^2)
    per axis, by a type-I DST.
    """
    import numpy as np
    import scipy.fft

    lam = 0.0
    for ax, n in enumerate(shape):
        theta = np.pi * np.arange(1, n + 1) / (n + 1)
        sym = (-2.0 * np.cos(2 * theta) + 32.0 * np.cos(theta) - 30.0) / (12.0 * dx * dx)
        lam = lam + sym.reshape([n if a == ax else 1 for a in range(len(shape))])

    def solve(r: np.ndarray) -> np.ndarray:
        return scipy.fft.idstn(scipy.fft.dstn(r, type=1) / lam, type=1)

    return solve
