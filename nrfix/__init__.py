"""nrfix: learned correction of numerical-relativity initial data.

A float64 3D residual-attention CNN (RCAB3D blocks with CBAM attention, after Helfer et al.,
arXiv:2411.02453) is trained against a differentiable CCZ4 Hamiltonian/momentum constraint
core (GRChombo conventions) to reduce the constraint violation of initial data while staying
close to the input. Includes analytic data generators, readers for nrfix/GRChombo HDF5 and
AMReX plotfiles, and a classical elliptic conformal-factor solve as a baseline.

The library facade is :mod:`nrfix.api` (what the ``nrfix`` command calls); configuration in
:mod:`nrfix.config`, training in :mod:`nrfix.train` (``fit``, ``load_model``).
"""

__version__ = "0.1.0"

__all__ = ["__version__", "generate", "read_any", "solve_conformal_factor"]

_LAZY = {
    "generate": "nrfix.data",
    "read_any": "nrfix.formats",
    "solve_conformal_factor": "nrfix.elliptic",
}


def __getattr__(name: str) -> object:  # lazy, so `nrfix --help` stays instant (no torch import)
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nrfix' has no attribute {name!r}")
