"""fcpredict: force constants as exact second derivatives of an E(3)-equivariant graph-network
energy (Equiformer, Liao & Smidt, ICLR 2023, on e3nn); reads and writes phonopy files.

The library facade is :mod:`fcpredict.api` (``load_config``, ``fit``, ``load_model``,
``predict``, ``write_prediction``, ``evaluate``, ``plot``); the CLI (:mod:`fcpredict.cli`) is a
thin layer over it. Lower levels: :mod:`fcpredict.train` (``fit``, ``load_model``),
:mod:`fcpredict.hessian` (exact Hessian rows, phonopy symmetry expansion),
:mod:`fcpredict.graph` (periodic neighbour lists) and :mod:`fcpredict.phonopy_io`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
