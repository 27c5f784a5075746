"""fcpredict: Force constants as exact second derivatives of an equivariant graph-network energy."""

__version__ = "0.1.0"

__all__ = ["__version__"]
