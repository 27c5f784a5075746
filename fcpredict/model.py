"""Energy models: an Equiformer-style E(3)-equivariant graph attention transformer and a
non-equivariant GraphTransformer baseline.

Equiformer (Liao & Smidt, ICLR 2023) in brief, as built here on e3nn:

    x_i^0      = [Embed(Z_i), 0, 0]                      node irreps e.g. 128x0e+64x1o+32x2e
    B_k(r)     = exp(-(r - mu_k)^2 / 2 sigma^2) * u(r)   Gaussian RBF x smooth C2 cutoff u
    Y(r_hat)   = 1x0e + 1x1o + 1x2e                       spherical harmonics (1o = polar vector)
    m_ij       = TP_uvu(L_s x_i + L_t x_j, Y(r_ij); W(B(r_ij)))      depthwise tensor product
    a_ij^h     = u_ij exp(s_ij^h) / sum_k u_ik exp(s_ik^h),  s_ij = MLP(scalars of m_ij)
    x_i       <- x_i + L_o( sum_j a_ij^h * L_v(m_ij)^h )  per head h, per l block
    x_i       <- x_i + FFN_gate(Norm x_i)                  (pre-norm, gated nonlinearity)
    E          = sum_i [MLP(scalars of Norm x_i) + e_Z_i]

Multiplying the softmax numerator by the cutoff u keeps the energy twice differentiable when
atoms cross the cutoff; all activations are smooth (SiLU, sigmoid), so exact Hessians exist.
Dropout acts on the attention weights only.
"""

from __future__ import annotations

import math

import torch
from e3nn import nn as enn
from e3nn import o3
from torch import nn

from fcpredict.config import ModelConfig
from fcpredict.graph import Graph, edge_vectors

__all__ = [
    "EquiformerEnergy",
    "GraphTransformerEnergy",
    "build_model",
    "calibrate_output_scale",
    "poly_cutoff",
]


def poly_cutoff(r: torch.Tensor, cutoff: float, p: int = 6) -> torch.Tensor:
    """Smooth envelope u(r) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2),
    x = r/cutoff, zero beyond; u, u' and u'' vanish at the cutoff (DimeNet, p = 6).
    """
    x = (r / cutoff).clamp(max=1.0)
    u = (
        1
        - (p + 1) * (p + 2) / 2 * x**p
        + p * (p + 2) * x ** (p + 1)
        - p * (p + 1) / 2 * x ** (p + 2)
    )
    return u * (r < cutoff).to(r.dtype)


class GaussianRBF(nn.Module):
    """B_k(r) = exp(-(r - mu_k)^2 / (2 sigma^2)) u(r), mu_k evenly spaced in [0, cutoff]."""

    def __init__(self, num: int, cutoff: float) -> None:
        super().__init__()
        self.cutoff = cutoff
        self.register_buffer("mu", torch.linspace(0.0, cutoff, num))
        self.sigma = cutoff / max(num - 1, 1)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """R (E,) -> (E, num)."""
        g = torch.exp(-0.5 * ((r[:, None] - self.mu) / self.sigma) ** 2)
        return g * poly_cutoff(r, self.cutoff)[:, None]


class EquivariantLayerNorm(nn.Module):
    """Layer norm per irrep block: scalars are centred and scaled by their std; l > 0 blocks
    are divided by sqrt(mean_c |x_c|^2 / (2l+1) + eps_vec), which commutes with rotations.

    At a high-symmetry site the l > 0 features vanish; a tiny eps_vec would then amplify
    their derivatives by 1/sqrt(eps_vec) and make the Hessian ill-conditioned, so eps_vec = 1
    (a soft norm: identity-like for small features, normalising for large ones).
    """

    def __init__(self, irreps: o3.Irreps, eps: float = 1e-5, eps_vec: float = 1.0) -> None:
        super().__init__()
        self.irreps, self.eps, self.eps_vec = o3.Irreps(irreps), eps, eps_vec
        self.weight = nn.Parameter(torch.ones(self.irreps.num_irreps))
        n_scalar = sum(mul for mul, ir in self.irreps if ir.l == 0)
        self.bias = nn.Parameter(torch.zeros(n_scalar))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, iw, ib = [], 0, 0
        for (mul, ir), sl in zip(self.irreps, self.irreps.slices()):
            f = x[:, sl].reshape(-1, mul, ir.dim)
            w = self.weight[iw : iw + mul][None, :, None]
            if ir.l == 0:
                f = f - f.mean(dim=1, keepdim=True)
                f = f / torch.sqrt(f.pow(2).mean(dim=(1, 2), keepdim=True) + self.eps)
                f = f * w + self.bias[ib : ib + mul][None, :, None]
                ib += mul
            else:
                f = f / torch.sqrt(f.pow(2).sum(-1).mean(-1)[:, None, None] / ir.dim + self.eps_vec)
                f = f * w
            iw += mul
            out.append(f.reshape(-1, mul * ir.dim))
        return torch.cat(out, dim=-1)


def _scatter_sum(src: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    out = torch.zeros((n,) + src.shape[1:], dtype=src.dtype, device=src.device)
    return out.index_add(0, index, src)


def _segment_max(src: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """Per-node maximum of edge values (E, H) -> (N, H); used as a softmax shift."""
    out = torch.full((n, src.shape[1]), -1e30, dtype=src.dtype, device=src.device)
    idx = index[:, None].expand_as(src)
    return out.scatter_reduce(0, idx, src, "amax", include_self=True)


class EquivariantAttention(nn.Module):
    """Graph attention with depthwise tensor-product messages and scalar attention weights."""

    def __init__(self, irreps: o3.Irreps, irreps_sh: o3.Irreps, cfg: ModelConfig) -> None:
        super().__init__()
        self.heads = cfg.num_heads
        for mul, ir in irreps:
            if mul % cfg.num_heads:
                raise ValueError(f"multiplicity {mul}x{ir} not divisible by {cfg.num_heads} heads")
        self.irreps = irreps
        self.lin_src, self.lin_dst = o3.Linear(irreps, irreps), o3.Linear(irreps, irreps)
        allowed = {ir for _, ir in irreps}
        mid, instr = [], []
        for i1, (mul, ir1) in enumerate(irreps):
            for i2, (_, ir2) in enumerate(irreps_sh):
                for ir3 in ir1 * ir2:
                    if ir3 in allowed:
                        instr.append((i1, i2, len(mid), "uvu", True))
                        mid.append((mul, ir3))
        self.irreps_mid = o3.Irreps(mid)
        self.tp = o3.TensorProduct(
            irreps, irreps_sh, self.irreps_mid, instr, internal_weights=False, shared_weights=False
        )
        self.radial = enn.FullyConnectedNet(
            [cfg.num_rbf, cfg.radial_hidden, self.tp.weight_numel], torch.nn.functional.silu
        )
        n_att = 8 * cfg.num_heads
        self.att_scalars = o3.Linear(self.irreps_mid, o3.Irreps(f"{n_att}x0e"))
        self.att_mlp = nn.Sequential(nn.SiLU(), nn.Linear(n_att, cfg.num_heads))
        self.value = o3.Linear(self.irreps_mid, irreps)
        self.out = o3.Linear(irreps, irreps)
        self.drop = nn.Dropout(cfg.attn_dropout)

    def forward(
        self,
        x: torch.Tensor,
        sh: torch.Tensor,
        rbf: torch.Tensor,
        env: torch.Tensor,
        edge_index: torch.Tensor,
    ) -> torch.Tensor:
        """X (N, irreps), sh (E, irreps_sh), rbf (E, R), env (E,) -> update (N, irreps)."""
        i, j = edge_index
        msg = self.tp(self.lin_src(x)[j] + self.lin_dst(x)[i], sh, self.radial(rbf))
        logits = self.att_mlp(self.att_scalars(msg))  # (E, H)
        # smooth softmax over the neighbours of i; the max shift cancels exactly
        w = env[:, None] * torch.exp(logits - _segment_max(logits.detach(), i, x.shape[0])[i])
        alpha = w / (_scatter_sum(w, i, x.shape[0])[i] + 1e-9)
        alpha = self.drop(alpha)
        v = self.value(msg)
        parts = []
        for (mul, ir), sl in zip(self.irreps, self.irreps.slices()):
            f = v[:, sl].reshape(-1, self.heads, mul // self.heads, ir.dim)
            parts.append((f * alpha[:, :, None, None]).reshape(-1, mul * ir.dim))
        return self.out(_scatter_sum(torch.cat(parts, dim=-1), i, x.shape[0]))


class GatedFFN(nn.Module):
    """Equivariant feed-forward block: Linear -> Gate (SiLU scalars, sigmoid gates) -> Linear."""

    def __init__(self, irreps: o3.Irreps, mult: int) -> None:
        super().__init__()
        scal = o3.Irreps([(mul * mult, ir) for mul, ir in irreps if ir.l == 0])
        gated = o3.Irreps([(mul * mult, ir) for mul, ir in irreps if ir.l > 0])
        gates = o3.Irreps(f"{gated.num_irreps}x0e")
        self.gate = enn.Gate(scal, [torch.nn.functional.silu], gates, [torch.sigmoid], gated)
        self.lin1 = o3.Linear(irreps, self.gate.irreps_in)
        self.lin2 = o3.Linear(self.gate.irreps_out, irreps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(self.gate(self.lin1(x)))


class EquiformerEnergy(nn.Module):
    """E(3)-equivariant attention transformer; forward(graph, positions, cells) -> E (B,) eV."""

    def __init__(self, cfg: ModelConfig, irreps_sh: str | None = None) -> None:
        """``irreps_sh`` overrides the edge irreps (tests only: '1x0e+1x1e+1x2e' reproduces
        the pseudovector parity trap).
        """
        super().__init__()
        self.cfg = cfg
        self.irreps = o3.Irreps(cfg.irreps_node_embedding).simplify()
        # Y_l(-r) = (-1)^l Y_l(r): the edge harmonics are 1x0e+1x1o+1x2e (polar vectors)
        self.irreps_sh = o3.Irreps(irreps_sh or o3.Irreps.spherical_harmonics(cfg.lmax))
        n0 = sum(mul for mul, ir in self.irreps if ir == o3.Irrep("0e"))
        self.n_nonscalar = self.irreps.dim - n0
        if self.irreps[0][1] != o3.Irrep("0e"):
            raise ValueError("irreps_node_embedding must contain 0e scalars")
        self.embed = nn.Embedding(cfg.max_z + 1, n0)
        self.rbf = GaussianRBF(cfg.num_rbf, cfg.cutoff)
        self.attn = nn.ModuleList(
            EquivariantAttention(self.irreps, self.irreps_sh, cfg) for _ in range(cfg.num_layers)
        )
        self.ffn = nn.ModuleList(GatedFFN(self.irreps, cfg.ffn_mult) for _ in range(cfg.num_layers))
        self.norm1 = nn.ModuleList(EquivariantLayerNorm(self.irreps) for _ in range(cfg.num_layers))
        self.norm2 = nn.ModuleList(EquivariantLayerNorm(self.irreps) for _ in range(cfg.num_layers))
        self.norm_out = EquivariantLayerNorm(self.irreps)
        self.head = nn.Sequential(
            nn.Linear(n0, cfg.radial_hidden), nn.SiLU(), nn.Linear(cfg.radial_hidden, 1)
        )
        self.atom_ref = nn.Embedding(cfg.max_z + 1, 1)
        nn.init.zeros_(self.atom_ref.weight)
        self.n0 = n0
        # per-element output scale, set from the data by calibrate_output_scale
        self.register_buffer("out_scale", torch.ones(cfg.max_z + 1))

    def forward(
        self, graph: Graph, positions: torch.Tensor | None = None, cells: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Total energy per crystal (B,) in eV; ``positions``/``cells`` override the graph's."""
        vec = edge_vectors(graph, positions, cells)
        r = torch.linalg.norm(vec, dim=-1)
        sh = o3.spherical_harmonics(self.irreps_sh, vec, normalize=True, normalization="component")
        rbf, env = self.rbf(r), poly_cutoff(r, self.cfg.cutoff)
        h = self.embed(graph.numbers)
        x = torch.cat([h, h.new_zeros(h.shape[0], self.n_nonscalar)], dim=-1)
        for attn, ffn, n1, n2 in zip(self.attn, self.ffn, self.norm1, self.norm2):
            x = x + attn(n1(x), sh, rbf, env, graph.edge_index)
            x = x + ffn(n2(x))
        e_atom = self.head(self.norm_out(x)[:, : self.n0]).squeeze(-1)
        e_atom = e_atom * (self.cfg.energy_scale * self.out_scale[graph.numbers])
        e_atom = e_atom + self.atom_ref(graph.numbers).squeeze(-1)
        return _scatter_sum(e_atom, graph.batch, graph.num_graphs)


class GraphTransformerEnergy(nn.Module):
    """Non-equivariant baseline: scalar node states, attention whose keys/values see the raw
    Cartesian edge vector (x, y, z) and its RBF; same smooth cutoff, same energy head.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.hidden_dim
        self.embed = nn.Embedding(cfg.max_z + 1, d)
        self.rbf = GaussianRBF(cfg.num_rbf, cfg.cutoff)
        self.edge = nn.ModuleList(
            nn.Sequential(nn.Linear(cfg.num_rbf + 3, d), nn.SiLU(), nn.Linear(d, 2 * d))
            for _ in range(cfg.num_layers)
        )
        self.q = nn.ModuleList(nn.Linear(d, d) for _ in range(cfg.num_layers))
        self.kv = nn.ModuleList(nn.Linear(d, 2 * d) for _ in range(cfg.num_layers))
        self.ffn = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 2 * d), nn.SiLU(), nn.Linear(2 * d, d))
            for _ in range(cfg.num_layers)
        )
        self.norm = nn.ModuleList(nn.LayerNorm(d) for _ in range(cfg.num_layers))
        self.drop = nn.Dropout(cfg.attn_dropout)
        self.head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.SiLU(), nn.Linear(d, 1))
        self.atom_ref = nn.Embedding(cfg.max_z + 1, 1)
        nn.init.zeros_(self.atom_ref.weight)

    def forward(
        self, graph: Graph, positions: torch.Tensor | None = None, cells: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Total energy per crystal (B,) in eV; ``positions``/``cells`` override the graph's."""
        vec = edge_vectors(graph, positions, cells)
        r = torch.linalg.norm(vec, dim=-1)
        env = poly_cutoff(r, self.cfg.cutoff)
        e_feat = torch.cat([self.rbf(r), vec / self.cfg.cutoff * env[:, None]], dim=-1)
        i, j = graph.edge_index
        x = self.embed(graph.numbers)
        n, d, heads = x.shape[0], x.shape[1], self.cfg.num_heads
        for q_l, kv_l, e_l, ffn, norm in zip(self.q, self.kv, self.edge, self.ffn, self.norm):
            y = norm(x)
            ek, ev = e_l(e_feat).chunk(2, dim=-1)
            k, v = kv_l(y).chunk(2, dim=-1)
            k, v = (k[j] + ek).view(-1, heads, d // heads), (v[j] * ev).view(-1, heads, d // heads)
            s = (q_l(y)[i].view(-1, heads, d // heads) * k).sum(-1) / math.sqrt(d // heads)
            w = env[:, None] * torch.exp(s - _segment_max(s.detach(), i, n)[i])
            alpha = self.drop(w / (_scatter_sum(w, i, n)[i] + 1e-9))
            x = x + _scatter_sum((alpha[:, :, None] * v).reshape(-1, d), i, n)
            x = x + ffn(x)
        e_atom = self.head(x).squeeze(-1) * self.cfg.energy_scale
        e_atom = e_atom + self.atom_ref(graph.numbers).squeeze(-1)
        return _scatter_sum(e_atom, graph.batch, graph.num_graphs)


def build_model(cfg: ModelConfig) -> nn.Module:
    """The model named by ``cfg.kind``: 'equiformer', 'transformer' (baseline) or a
    pretrained backbone (:data:`fcpredict.backbones.BACKBONES`; float64, eval mode).
    """
    from fcpredict.backbones import BACKBONES

    if cfg.kind in BACKBONES:
        from fcpredict.backbones import load_backbone

        return load_backbone(cfg.kind)
    if cfg.kind == "equiformer":
        return EquiformerEnergy(cfg)
    if cfg.kind == "transformer":
        return GraphTransformerEnergy(cfg)
    raise ValueError(
        f"unknown model kind {cfg.kind!r} (use 'equiformer', 'transformer' or one of {BACKBONES})"
    )


@torch.no_grad()
def calibrate_output_scale(
    model: nn.Module, samples: list, max_samples: int = 4, iterations: int = 2
) -> dict[int, float]:
    """Set the per-element output scale s_Z so the untrained Hessian has the data's magnitude.

    With s = 1 the rows R_a of the primitive atoms a give the global ratio
    ||Phi_ref||_F / ||R||_F and, per element, s_Z = sign_Z ||Phi_ref[a in Z]||_F / ||R[a in Z]||_F
    over up to ``max_samples`` samples with force constants, sign_Z = sign of
    sum_a tr(R_aa) tr(Phi_ref,aa) (on-site blocks start with the data's sign); elements without
    primitive rows keep the global ratio (signed by the summed trace product). A
    least-squares fit is not used on purpose: an untrained Hessian is nearly uncorrelated
    with the data, and the projection would shrink it further. Without this
    (``energy_scale = 1``) the untrained Hessian is ~50x softer than DFT (Si).

    Parameters
    ----------
    model : an :class:`EquiformerEnergy` or :class:`GraphTransformerEnergy` (has ``out_scale``).
    samples : objects with ``graph``, ``fc`` (n_prim, N, 3, 3) or None, and ``p2s``
        (``fcpredict.train_loop.TorchSample``).
    max_samples : samples used (cost: the primitive rows of each, ``iterations + 1`` times).
    iterations : fixed-point refinements s_Z <- s_Z ||Phi_ref[Z]|| / ||R(s)[Z]|| (the rows of
        one element's atoms also depend on the other elements' scales).

    Returns
    -------
    dict
        {Z: s_Z} for the elements with rows (empty when no sample has force constants).
    """
    if not hasattr(model, "out_scale"):
        return {}
    use = [s for s in samples if getattr(s, "fc", None) is not None][:max_samples]
    if not use:
        return {}
    model.out_scale.fill_(1.0)
    sign: dict[int, float] = {}
    for it in range(iterations + 1):
        acc = _row_norms(model, use)
        if it == 0:
            sign = {z: 1.0 if v[2] >= 0 else -1.0 for z, v in acc.items()}
            tot_ref, tot_mod = sum(v[0] for v in acc.values()), sum(v[1] for v in acc.values())
            tr = sum(v[2] for v in acc.values())
            model.out_scale.fill_(
                (tot_ref / max(tot_mod, 1e-30)) ** 0.5 * (1.0 if tr >= 0 else -1.0)
            )
        for z, (r2, m2, _) in acc.items():
            ratio = (r2 / max(m2, 1e-30)) ** 0.5
            model.out_scale[z] = ratio * sign[z] if it == 0 else model.out_scale[z] * ratio
    return {z: float(model.out_scale[z]) for z in sign}


@torch.no_grad()
def _row_norms(model: nn.Module, samples: list) -> dict[int, list[float]]:
    """Z -> [sum |Phi_ref rows|^2, sum |model rows|^2, sum tr(R_aa) tr(Phi_ref,aa)]."""
    from fcpredict.hessian import hessian_rows

    acc: dict[int, list[float]] = {}
    for s in samples:
        with torch.enable_grad():
            rows = hessian_rows(model, s.graph, list(s.p2s), method="loop").detach().double()
        ref = s.fc.double()
        for k, a in enumerate(s.p2s):
            t = acc.setdefault(int(s.graph.numbers[a]), [0.0, 0.0, 0.0])
            t[0] += float(ref[k].pow(2).sum())
            t[1] += float(rows[k].pow(2).sum())
            t[2] += float(torch.trace(rows[k, a]) * torch.trace(ref[k, a]))
    return acc
