"""ionofield: Reconstruct ionospheric electron density: IRI background plus a learned SIREN residual."""

__version__ = "0.1.0"

__all__ = ["__version__"]
