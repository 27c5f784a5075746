"""nrfix: Correct numerical-relativity initial data with a learned, constraint-trained 3D CNN."""

__version__ = "0.1.0"

__all__ = ["__version__"]
