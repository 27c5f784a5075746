"""SevenNet models (Park et al. 2024, e3nn NequIP-style, MIT) as twice-differentiable energies.

Checkpoints (all inside the ``sevenn`` wheel): '7net-0' (SevenNet-0, 11Jul2024, lmax 2;
'7net-0_22may2024' is its first release),
'7net-l3i5' (SevenNet-l3i5: lmax 3, 5 interactions, same MPtrj PBE training data) and
'7net-mf-0' (SevenNet-MF-0, multi-fidelity: one network with a fidelity one-hot input and
per-fidelity energy shifts; heads 'PBE' and 'R2SCAN', the head is chosen with ``modal``).

SevenNet's own model differentiates its energy with respect to precomputed edge vectors
(``ForceStressOutputFromEdge``). Here the edge vectors are rebuilt from positions,

    r_ij = r_j - r_i + S_ij @ cell     (fcpredict.graph.edge_vectors; SevenNet's convention:
                                       edge_index[0] = centre i receives, [1] = neighbour j)

and the force module is dropped, so E(positions) is an ordinary autograd graph: forces are
its gradient and force constants its exact Hessian rows. The weights are the checkpoint that
ships inside the ``sevenn`` wheel (``sevenn/pretrained_potentials``); nothing is downloaded.
"""

from __future__ import annotations

import torch
from torch import nn

from fcpredict.graph import Graph, edge_vectors

__all__ = ["SevenNetEnergy", "sevennet_checkpoint_path"]


def sevennet_checkpoint_path(name: str = "7net-0") -> str:
    """Path of a pretrained SevenNet checkpoint inside the installed wheel (no download)."""
    import os

    from sevenn import _const

    paths = {
        "7net-0": _const.SEVENNET_0_11Jul2024,
        "7net-l3i5": _const.SEVENNET_l3i5,
        "7net-mf-0": _const.SEVENNET_MF_0,
        "7net-0_22may2024": _const.SEVENNET_0_22May2024,
    }
    path = paths.get(name)
    if path is None or not os.path.isfile(path):
        raise FileNotFoundError(f"SevenNet checkpoint {name!r} is not inside the sevenn wheel")
    return path


class SevenNetEnergy(nn.Module):
    """SevenNet energy E(graph, positions, cells) -> (B,) eV, with edge vectors from positions.

    Parameters
    ----------
    name : pretrained checkpoint inside the wheel: '7net-0', '7net-0_22may2024', '7net-l3i5'
        or '7net-mf-0'.
    modal : fidelity head of a multi-fidelity checkpoint (7net-mf-0: 'PBE' or 'R2SCAN');
        required for those, refused for single-fidelity ones.
    """

    def __init__(self, name: str = "7net-0", modal: str | None = None) -> None:
        super().__init__()
        import warnings

        from sevenn.checkpoint import SevenNetCheckpoint

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cp = SevenNetCheckpoint(sevennet_checkpoint_path(name))
            model = cp.build_model()
        model.delete_module_by_key("force_output")
        model.set_is_batch_data(True)
        modal_map = dict(getattr(model, "modal_map", None) or {})
        if modal_map and modal not in modal_map:
            raise ValueError(f"SevenNet {name!r}: choose a fidelity head from {sorted(modal_map)}")
        if not modal_map and modal is not None:
            raise ValueError(f"SevenNet {name!r} has a single fidelity; modal must be None")
        self.modal_index = modal_map[modal] if modal_map else None
        self.net = model
        self.name = name
        self.modal = modal
        self.cutoff = float(cp.config["cutoff"])
        self.register_buffer("z_to_type", model.z_to_onehot_tensor.clone(), persistent=False)

    def supports(self, numbers: torch.Tensor) -> bool:
        """True when every atomic number has an embedding in this checkpoint."""
        z = numbers.long()
        return bool((z < self.z_to_type.numel()).all() and (self.z_to_type[z] >= 0).all())

    def forward(
        self, graph: Graph, positions: torch.Tensor | None = None, cells: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Total energy per crystal (B,) in eV."""
        if not self.supports(graph.numbers):
            raise ValueError(f"an element of this structure is not covered by SevenNet {self.name}")
        vec = edge_vectors(graph, positions, cells)
        data = {
            "x": self.z_to_type[graph.numbers],
            "atomic_numbers": graph.numbers,
            "edge_index": graph.edge_index,
            "edge_vec": vec,
            "batch": graph.batch,
            "num_atoms": torch.bincount(graph.batch, minlength=graph.num_graphs),
        }
        if self.modal_index is not None:  # one fidelity index per crystal (batch mode)
            data["modal_type"] = torch.full(
                (graph.num_graphs,), self.modal_index, dtype=torch.long, device=vec.device
            )
        for key, module in self.net._modules.items():
            data = module(data)
            if key == "onehot_idx_to_onehot":  # SevenNet casts the one-hot to float32
                for k in (module.key_output, module.key_additional_output):
                    if k is not None:
                        data[k] = data[k].to(vec.dtype)
        return data["inferred_total_energy"].reshape(-1)[: graph.num_graphs]
