"""ionofield: ionospheric electron density Ne(lat, lon, alt, t) as an IRI background plus a
learned residual field (R-STMRF: SIREN networks, Kp/F10.7 LSTM modulation, Chapman vertical
smoothness and a ConvLSTM TEC gradient-direction loss), trained on sparse satellite Ne
observations and global TEC maps; day-ahead forecasts and nowcasts of real IONEX maps.

The library facade is :mod:`ionofield.api`; the command line (``python -m ionofield``) is a
thin layer over it. Importing this package stays light (no torch) so ``--help`` is instant.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
