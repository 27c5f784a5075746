"""Loss terms for energies, forces and force constants.

* energy: MSE of the energy per atom, ((E - E_ref) / N)^2                   (eV^2)
* forces: MSE of the force components                                       ((eV/A)^2)
* fc: relative squared Frobenius error of Hessian rows, ||Phi - Phi_ref||_F^2 / ||Phi_ref||_F^2
* eigen: at commensurate q the dynamical matrix D(q)_{a a', b b'} =
  sum_{j in b} Phi_{a j}^{a' b'} exp(i q.(r_j - r_a)) / sqrt(m_a m_b). With the reference
  eigenpairs D_ref = V diag(lambda) V^H (computed once, no gradient), M = V^H D_pred V must
  equal diag(lambda): diagonal errors are eigenvalue errors, off-diagonal terms measure how
  far the predicted eigenvectors rotate away from the reference ones. No eigendecomposition
  of the prediction is differentiated:  L = ||M - diag(lambda)||_F^2 / ||lambda||^2.
* adaptive combination: each term is divided by a running mean of its own magnitude, so
  terms with different units contribute comparably (a detached loss-balancing heuristic).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "relative_frobenius",
    "dynamical_matrices",
    "eigen_reference",
    "eigen_loss",
    "AdaptiveWeights",
]


def relative_frobenius(pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """||pred - ref||_F^2 / ||ref||_F^2 (dimensionless)."""
    return (pred - ref).pow(2).sum() / ref.pow(2).sum().clamp_min(1e-12)


def dynamical_matrices(
    fc: torch.Tensor, phase: torch.Tensor, onehot: torch.Tensor, inv_sqrt_m: torch.Tensor
) -> torch.Tensor:
    """D(q) (Q, 3 n_p, 3 n_p) complex from compact rows fc (n_p, N, 3, 3).

    phase (Q, n_p, N) complex = exp(i q.(r_j - r_a)); onehot (N, n_p) maps atom j to its
    primitive atom b; inv_sqrt_m (n_p,) = 1/sqrt(m) in amu^-1/2.
    """
    d = torch.einsum("qaj,ajxy,jb->qaxby", phase, fc.to(phase.dtype), onehot.to(phase.dtype))
    w = (inv_sqrt_m[:, None] * inv_sqrt_m[None, :]).to(phase.dtype)
    d = d * w[None, :, None, :, None]
    n = fc.shape[0] * 3
    return d.reshape(-1, n, n)


def eigen_reference(d_ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (Q, M) and eigenvectors (Q, M, M) of the Hermitian reference D(q)."""
    d = 0.5 * (d_ref + d_ref.conj().transpose(-1, -2))
    lam, vec = torch.linalg.eigh(d.detach())
    return lam, vec


def eigen_loss(d_pred: torch.Tensor, lam: torch.Tensor, vec: torch.Tensor) -> torch.Tensor:
    """||V^H D_pred V - diag(lambda)||_F^2 / ||lambda||^2 over all q."""
    m = vec.conj().transpose(-1, -2) @ d_pred @ vec
    target = torch.diag_embed(lam.to(m.dtype))
    return (m - target).abs().pow(2).sum() / lam.pow(2).sum().clamp_min(1e-12)


class AdaptiveWeights:
    """w_k = base_k / running_mean(L_k); state is plain floats (stored in checkpoints)."""

    def __init__(
        self, base: dict[str, float], enabled: bool = True, momentum: float = 0.95
    ) -> None:
        self.base, self.enabled, self.momentum = dict(base), enabled, momentum
        self.running: dict[str, float] = {}

    def update(self, values: dict[str, float]) -> None:
        """Fold this step's (rank-averaged) term values into the running means."""
        for key, v in values.items():
            r = self.running.get(key, v)
            self.running[key] = self.momentum * r + (1 - self.momentum) * v

    def combine(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """sum_k w_k L_k over the available terms, w_k = base_k / running_k (if adaptive)."""
        total = None
        for key, value in terms.items():
            w = self.base.get(key, 0.0)
            if w == 0.0:
                continue
            if self.enabled:
                w = w / max(self.running.get(key, float(value.detach())), 1e-8)
            total = value * w if total is None else total + value * w
        if total is None:
            raise ValueError("no loss term with a non-zero weight is available")
        return total

    def state_dict(self) -> dict[str, float]:
        """Running means, for checkpoints."""
        return dict(self.running)

    def load_state_dict(self, state: dict[str, float]) -> None:
        """Restore the running means."""
        self.running = {k: float(v) for k, v in state.items()}


def phases(positions: np.ndarray, p2s: np.ndarray, q_cart: np.ndarray) -> np.ndarray:
    """exp(i q.(r_j - r_{p2s[a]})), shape (Q, n_p, N) complex128."""
    dr = positions[None, :, :] - positions[p2s][:, None, :]  # (n_p, N, 3)
    return np.exp(1j * np.einsum("qc,ajc->qaj", q_cart, dr))
