"""physx4dct: 4D respiratory CT from cone-beam projections with radiative Gaussian splatting."""

__version__ = "0.1.0"

__all__ = ["__version__"]
