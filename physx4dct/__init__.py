"""physx4dct: 4D respiratory CT from cone-beam projections with radiative Gaussian splatting and
an anchor-transformer deformation field fused with a HexPlane field (PhysX-4DCT).

Follows R²-Gaussian (Zha et al., NeurIPS 2024: X-ray Gaussian splatting, line integrals without
alpha compositing) and X²-Gaussian (Yu et al., ICCV 2025: HexPlane deformation, learned
breathing period with a periodic consistency loss). Library first: `api` is the facade
(`load_config`, `simulate_phantom`, `fit`, `load_model`, `render`, `evaluate`, `plot`); below
it `geometry` (cone-beam, NAF convention), `projector` (splatting, ray marching, exact line
integrals), `voxelizer`, `data` (scan I/O, breathing phantom), `fdk`, `model`, `deformation`,
`fusion` (anchor transformer and fusion modes), `train`, `evaluate`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
