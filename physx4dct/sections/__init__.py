"""The sections of `physx4dct.config.Config`, one module per concern: `scan` (``data``,
``phantom``), `gaussians`, `deformation` (``hexplane``, ``fusion``), `loss`, `train`; `checks`
holds the range checks they share. Import them from `physx4dct.config`. Like it, these modules
import neither torch nor numpy (the CLI reads the choices at import time).
"""
