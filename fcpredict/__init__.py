"""fcpredict: force constants as exact second derivatives of an E(3)-equivariant graph-network
energy (Equiformer, Liao & Smidt, ICLR 2023, on e3nn); reads and writes phonopy files.

Library entry points: :func:`fcpredict.train.fit`, :func:`fcpredict.apply.predict_fc`,
:mod:`fcpredict.hessian` (exact Hessian rows, phonopy symmetry expansion), :mod:`fcpredict.graph`
(periodic neighbour lists) and :mod:`fcpredict.phonopy_io`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
