"""ionofield: ionospheric electron density Ne(lat, lon, alt, t) as an IRI background plus a
learned residual field (R-STMRF: SIREN spatial/temporal nets, Kp/F10.7 LSTM modulation,
Chapman vertical smoothness and a ConvLSTM TEC gradient-direction loss), trained on sparse
satellite Ne observations and global TEC maps.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
