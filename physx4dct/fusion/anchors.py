"""Anchor spacetime transformer (PhysX-Gaussian): a Lagrangian deformation field on anchors.

1. Anchors a_m, m < M: farthest-point sampling of the initial Gaussian centres (detached
   buffers, never part of a graph).
2. Skinning: Gaussian i binds to its k nearest anchors with weights
       w_ik = softmax_k(-|x_i - a_k|^2 / T)            (sum_k w_ik = 1)
   recomputed by `rebind` after densify/prune (indices/weights are buffers, no gradient).
3. Tokens: h_m(t) = W [E_pos(a_m), F(t)] with F(t) = (sin, cos)(pi 2^j t) -- or, with
   `anchor_time_encoding = grid`, a learnt time code F(t) linearly interpolated on a 1D grid
   of `anchor_time_cells` cells (initialised to the Fourier features): one code shared by
   all anchors, the way one breathing surrogate drives the whole thorax; a transformer
   encoder over the M anchor tokens (or the M x K (anchor, time) tokens of the
   spatio-temporal mode) and a zero-initialised head give anchor displacements d_m(t).
4. Gaussian displacement dx_i(t) = sum_k w_ik d_{a_ik}(t).
Masked anchor modelling: a masked pass replaces a random `mask_ratio` of tokens by a learnt
mask token (BERT) -- or, in the spatio-temporal mode, adds a mask-flag embedding -- and is
pulled towards the detached unmasked teacher (physics completion / consistency / LagBERT).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from physx4dct.config import FusionConfig

__all__ = [
    "AnchorField",
    "AnchorOut",
    "anchor_graph",
    "farthest_point_sampling",
    "fourier_features",
    "knn_skinning",
]


def farthest_point_sampling(xyz: Tensor, m: int) -> Tensor:
    """Indices (m,) of m points of `xyz` (N,3) by farthest-point sampling (deterministic).

    Starts at the point farthest from the centroid; each next point maximises its squared
    distance to the set chosen so far. O(N m) time, O(N) memory. m >= N returns all points.
    """
    xyz = xyz.detach()
    n = xyz.shape[0]
    if m >= n:
        return torch.arange(n, device=xyz.device)
    idx = torch.empty(m, dtype=torch.long, device=xyz.device)
    far = int(torch.argmax((xyz - xyz.mean(0)).square().sum(1)))
    dist = torch.full((n,), float("inf"), dtype=xyz.dtype, device=xyz.device)
    for i in range(m):
        idx[i] = far
        dist = torch.minimum(dist, (xyz - xyz[far]).square().sum(1))
        far = int(torch.argmax(dist))
    return idx


@torch.no_grad()
def knn_skinning(
    xyz: Tensor, anchors: Tensor, k: int, temperature: float, chunk: int = 8192
) -> tuple[Tensor, Tensor]:
    """KNN skinning: indices (N,k) of the k nearest anchors and weights (N,k) summing to 1.

    w_ik = softmax_k(-d_ik^2 / temperature), d in scene units. Computed without gradient.
    """
    k = min(k, anchors.shape[0])
    idx_parts, w_parts = [], []
    for start in range(0, xyz.shape[0], chunk):
        d2 = torch.cdist(xyz[start : start + chunk].detach(), anchors).square()
        d2k, idx = torch.topk(d2, k, dim=1, largest=False)
        idx_parts.append(idx)
        w_parts.append(torch.softmax(-d2k / temperature, dim=1))
    if not idx_parts:
        empty = xyz.new_zeros((0, k))
        return empty.long(), empty
    return torch.cat(idx_parts), torch.cat(w_parts)


@torch.no_grad()
def anchor_graph(anchors: Tensor, k: int) -> Tensor:
    """(M, k) indices of each anchor's k nearest other anchors (self excluded)."""
    k = min(k, anchors.shape[0] - 1)
    d = torch.cdist(anchors, anchors)
    d.fill_diagonal_(float("inf"))
    return torch.topk(d, max(k, 0), dim=1, largest=False).indices


def fourier_features(x: Tensor, n_freq: int) -> Tensor:
    """(..., D) -> (..., 2 D n_freq): sin and cos of pi 2^j x for j < n_freq (log-spaced,
    so a 60-s scan with ~15 breaths over t in [0,1] is resolved).
    """
    freqs = math.pi * 2.0 ** torch.arange(n_freq, dtype=x.dtype, device=x.device)
    arg = (x[..., None] * freqs).flatten(-2)
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=-1)


@dataclass
class AnchorOut:
    """Result of the anchor field for N Gaussians at one time (or per-Gaussian times)."""

    dx: Tensor
    """(N, 3) Gaussian displacements."""
    logvar: Tensor | None
    """(N, 1) interpolated anchor log-variance (uncertainty mode) or None."""
    anchor_dx: Tensor
    """(U, M, 3) anchor displacements at the U distinct times."""
    losses: dict[str, Tensor] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)


class AnchorBinding(nn.Module):
    """Skinning of Gaussian centres to fixed anchors, shared by every anchor-driven field.

    Subclasses call :meth:`bind_anchors` in ``__init__`` (after ``nn.Module.__init__``).
    """

    def bind_anchors(self, cfg: FusionConfig, init_xyz: Tensor) -> None:
        """Pick ``cfg.num_anchors`` anchors by farthest-point sampling, build their graph and
        skin the centres ``init_xyz`` (N,3) to them.
        """
        self.cfg = cfg
        init_xyz = init_xyz.detach()
        anchors = init_xyz[farthest_point_sampling(init_xyz, cfg.num_anchors)].clone()
        self.register_buffer("anchors", anchors)
        self.register_buffer("graph", anchor_graph(anchors, cfg.anchor_graph_k))
        self.register_buffer("knn_idx", torch.zeros(0, cfg.anchor_k, dtype=torch.long))
        self.register_buffer("knn_w", torch.zeros(0, cfg.anchor_k, dtype=anchors.dtype))
        self.rebind(init_xyz)

    @torch.no_grad()
    def rebind(self, xyz: Tensor) -> None:
        """Re-skin the (new) Gaussian centres `xyz` (N,3) to the fixed anchors."""
        idx, w = knn_skinning(
            xyz.to(self.anchors), self.anchors, self.cfg.anchor_k, self.cfg.anchor_temperature
        )
        self.knn_idx, self.knn_w = idx, w

    def _load_from_state_dict(
        self, state_dict: dict, prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        """Accept a checkpoint bound to a different number of Gaussians (densify/prune)."""
        for name in ("knn_idx", "knn_w", "anchors", "graph"):
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class AnchorField(AnchorBinding):
    """Anchor spacetime transformer; `forward(xyz, t, step) -> AnchorOut`.

    cfg is a `physx4dct.fusion.FusionConfig`; init_xyz (N,3) the initial centres.
    """

    def __init__(self, cfg: FusionConfig, init_xyz: Tensor, with_logvar: bool = False) -> None:
        super().__init__()
        self.bind_anchors(cfg, init_xyz)
        dim, n_pos = cfg.transformer_dim, cfg.anchor_pos_bands
        self.n_pos = n_pos  # Fourier bands of the anchor positions
        self.n_time = max(cfg.anchor_time_embed_dim // 2, 1)
        self.pos_mlp = nn.Sequential(
            nn.Linear(3 * 2 * n_pos, cfg.anchor_pos_embed_dim),
            nn.GELU(),
            nn.Linear(cfg.anchor_pos_embed_dim, cfg.anchor_pos_embed_dim),
        )
        self.token = nn.Linear(cfg.anchor_pos_embed_dim + 2 * self.n_time, dim)
        self.time_grid = None
        if cfg.anchor_time_encoding == "grid":
            cells = torch.linspace(0.0, 1.0, cfg.anchor_time_cells, dtype=self.anchors.dtype)
            self.time_grid = nn.Parameter(fourier_features(cells[:, None], self.n_time))
        layer = nn.TransformerEncoderLayer(
            dim, cfg.transformer_heads, 2 * dim, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(
            layer, cfg.transformer_layers, enable_nested_tensor=False
        )
        self.head = nn.Linear(dim, 3)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.logvar_head = nn.Linear(dim, 1) if with_logvar else None
        if self.logvar_head is not None:
            nn.init.zeros_(self.logvar_head.weight)
            nn.init.constant_(self.logvar_head.bias, cfg.uncertainty_init)
        # BERT mask token (anchor mode) or additive mask flag (spatio-temporal mode)
        self.mask_token = None if cfg.st_mode else nn.Parameter(torch.randn(dim) * 0.02)
        self.mask_flag = nn.Parameter(torch.randn(dim) * 0.02) if cfg.st_mode else None

    # ----------------------------------------------------------------- tokens
    def tokens(self, times: Tensor) -> Tensor:
        """Input tokens (B, M, dim) of the anchors at the B times `times` (B,)."""
        pos = self.pos_mlp(fourier_features(self.anchors, self.n_pos))  # (M, P)
        tim = self.time_code(times.reshape(-1))  # (B, 2 n_time)
        b, m = tim.shape[0], pos.shape[0]
        feats = torch.cat([pos.expand(b, m, -1), tim[:, None, :].expand(b, m, -1)], dim=-1)
        return self.token(feats)

    def time_code(self, times: Tensor) -> Tensor:
        """Time features (B, 2 n_time) of the B normalised times: Fourier, or the learnt grid
        code linearly interpolated (times outside [0, 1] are clamped to the end cells).
        """
        if self.time_grid is None:
            return fourier_features(times[:, None], self.n_time)
        n = self.time_grid.shape[0]  # >= 2 (FusionConfig checks)
        u = times.to(self.time_grid).clamp(0.0, 1.0) * (n - 1)
        lo = u.floor().long().clamp(max=n - 2)
        frac = (u - lo.to(u))[:, None]
        return (1.0 - frac) * self.time_grid[lo] + frac * self.time_grid[lo + 1]

    def network_params(self) -> list[nn.Parameter]:
        """Every parameter but the time grid (the anchor network's optimizer group)."""
        return [p for name, p in self.named_parameters() if name != "time_grid"]

    def param_groups(self, base_lr: float) -> list[dict]:
        """Optimizer groups: the network at base_lr * anchor_lr_scale and, with the grid time
        encoding, the time grid at base_lr * anchor_time_lr_scale; both decay over the run.
        base_lr is the HexPlane grid lr.
        """
        groups = [
            {
                "params": self.network_params(),
                "lr": base_lr * self.cfg.anchor_lr_scale,
                "name": "anchor",
                "decay": True,
            }
        ]
        if self.time_grid is not None:
            groups.append(
                {
                    "params": [self.time_grid],
                    "lr": base_lr * self.cfg.anchor_time_lr_scale,
                    "name": "anchor_time_grid",
                    "decay": True,
                }
            )
        return groups

    def encode(self, h: Tensor) -> tuple[Tensor, Tensor | None]:
        """Transformer + heads: tokens (B, L, dim) -> displacements (B, L, 3), logvar."""
        z = self.encoder(h)
        lv = self.logvar_head(z) if self.logvar_head is not None else None
        return self.head(z), lv

    def apply_bert_mask(self, h: Tensor, mask: Tensor) -> Tensor:
        """Replace masked tokens (mask (B, L) bool) by the learnt mask token."""
        return torch.where(mask[..., None], self.mask_token.to(h), h)

    def apply_flag_mask(self, h: Tensor, mask: Tensor) -> Tensor:
        """Add the scaled mask-flag embedding to masked tokens (position/time kept)."""
        flag = self.cfg.st_mask_embed_scale * self.mask_flag.to(h)
        return h + mask[..., None].to(h) * flag

    def draw_mask(self, shape: tuple[int, ...], ratio: float, step: int) -> Tensor:
        """Boolean mask with round(ratio * last dim) True entries per row (seeded by step)."""
        from common.seeding import generator_for

        gen = generator_for(self.cfg.mask_seed, step=step)
        scores = torch.rand(shape, generator=gen).to(self.anchors.device)
        n_mask = int(round(ratio * shape[-1]))
        mask = torch.zeros(shape, dtype=torch.bool, device=scores.device)
        if n_mask > 0:
            mask.scatter_(-1, torch.topk(scores, n_mask, dim=-1).indices, True)
        return mask

    # ----------------------------------------------------------------- field
    def _learning(self) -> bool:
        """Loss terms only when training with autograd on (not in no-grad validation)."""
        return self.training and torch.is_grad_enabled()

    def anchor_displacements(
        self, times: Tensor, step: int = 0
    ) -> tuple[Tensor, Tensor | None, dict[str, Tensor]]:
        """Anchor displacements (B, M, 3), log-variances or None, and the masked-model losses."""
        if self.cfg.st_mode:
            return st_forward(self, times, step)
        h = self.tokens(times)
        d, lv = self.encode(h)
        losses = masked_losses(self, h, d, step) if self._learning() else {}
        return d, lv, losses

    def displacements(self, times: Tensor) -> Tensor:
        """Unmasked anchor displacements (B, M, 3) at the times (B,) (no losses)."""
        if self.cfg.st_mode:
            return st_center(self, times)
        return self.encode(self.tokens(times))[0]

    def query(self, points: Tensor, t: Tensor | float) -> Tensor:
        """Displacement (P, 3) at arbitrary points (P, 3) and one time, with fresh skinning
        (used by the finite-difference regularisers and the plots).
        """
        times = torch.as_tensor(t, dtype=self.anchors.dtype, device=self.anchors.device).reshape(
            -1
        )[:1]
        idx, w = knn_skinning(
            points.to(self.anchors), self.anchors, self.cfg.anchor_k, self.cfg.anchor_temperature
        )
        return _skin(self.displacements(times), idx, w, None).to(points.dtype)

    def forward(self, xyz: Tensor, t: Tensor, step: int = 0) -> AnchorOut:
        """Skinned displacement of the N Gaussians at time t (scalar or (N,1), in [0,1])."""
        if xyz.shape[0] != self.knn_idx.shape[0]:
            self.rebind(xyz)
        t = torch.as_tensor(t, dtype=self.anchors.dtype, device=self.anchors.device)
        flat = t.reshape(-1)
        if flat.numel() == 1 or bool((flat == flat[0]).all()):
            times, inv = flat[:1], None
        else:
            times, inv = torch.unique(flat, return_inverse=True)
        d, lv, losses = self.anchor_displacements(times, step)
        dx = _skin(d, self.knn_idx, self.knn_w, inv)
        lvx = _skin(lv, self.knn_idx, self.knn_w, inv) if lv is not None else None
        losses.update(self.regularisers(times, d, step))
        stats = {"anchor_dx_rms": float(d.detach().square().mean().sqrt())}
        return AnchorOut(dx=dx.to(xyz.dtype), logvar=lvx, anchor_dx=d, losses=losses, stats=stats)

    def regularisers(self, times: Tensor, d: Tensor, step: int) -> dict[str, Tensor]:
        """Anchor smoothness over the anchor graph and temporal second difference (weighted)."""
        cfg, out = self.cfg, {}
        if not self._learning():
            return out
        if self.time_grid is not None and cfg.lambda_time_grid > 0 and self.time_grid.shape[0] > 2:
            g = self.time_grid
            d2 = g[2:] - 2.0 * g[1:-1] + g[:-2]
            out["anchor_time_grid"] = cfg.lambda_time_grid * d2.square().mean()
        if cfg.lambda_anchor_smooth > 0 and self.graph.shape[1] > 0:
            diff = d[:, :, None, :] - d[:, self.graph, :]
            out["anchor_smooth"] = cfg.lambda_anchor_smooth * diff.square().sum(-1).mean()
        if cfg.lambda_anchor_time > 0:
            h = cfg.anchor_time_delta
            tt = torch.stack([times[0] - h, times[0] + h])
            if cfg.st_mode:
                side = st_center(self, tt)
            else:
                side, _ = self.encode(self.tokens(tt))
            d2 = side[0] - 2.0 * d[0] + side[1]
            out["anchor_time"] = cfg.lambda_anchor_time * d2.square().sum(-1).mean()
        return out


def _skin(values: Tensor, idx: Tensor, w: Tensor, inv: Tensor | None) -> Tensor:
    """sum_k w_ik values[u_i, idx_ik]: values (U, M, C), idx/w (N, k) -> (N, C)."""
    if inv is None:
        gathered = values[0][idx]  # (N, k, C)
    else:
        gathered = values[inv[:, None], idx]
    return (gathered * w[..., None].to(values)).sum(1)


def masked_losses(fld: AnchorField, h: Tensor, d_full: Tensor, step: int) -> dict[str, Tensor]:
    """BERT masked anchor modelling on tokens h (B, M, dim) with teacher d_full (B, M, 3).

    L_phys = lambda_phys mean_{masked} |d_masked - sg(d_full)|_1 (after phys_warmup_steps),
    L_consist = lambda_consist mean_{all} |d_masked - sg(d_full)|_1.
    """
    cfg = fld.cfg
    use_phys = cfg.lambda_phys > 0 and step >= cfg.phys_warmup_steps
    if cfg.mask_ratio <= 0 or not (use_phys or cfg.lambda_consist > 0):
        return {}
    mask = fld.draw_mask(tuple(h.shape[:2]), cfg.mask_ratio, step)
    d_masked, _ = fld.encode(fld.apply_bert_mask(h, mask))
    err = (d_masked - d_full.detach()).abs().sum(-1)  # (B, M)
    out = {}
    if use_phys and bool(mask.any()):
        out["phys"] = cfg.lambda_phys * err[mask].mean()
    if cfg.lambda_consist > 0:
        out["consist"] = cfg.lambda_consist * err.mean()
    return out


def st_tokens(fld: AnchorField, t: Tensor) -> Tensor:
    """Spatio-temporal tokens (1, K M, dim) of the window t + (k - K//2) st_time_delta."""
    cfg = fld.cfg
    k = cfg.st_window_size
    offs = (torch.arange(k, dtype=t.dtype, device=t.device) - k // 2) * cfg.st_time_delta
    h = fld.tokens(t.reshape(1) + offs)  # (K, M, dim)
    return h.reshape(1, -1, h.shape[-1])


def st_center(fld: AnchorField, times: Tensor) -> Tensor:
    """Centre-time anchor displacements (B, M, 3) of the unmasked spatio-temporal pass."""
    m, c = fld.anchors.shape[0], fld.cfg.st_window_size // 2
    outs = [fld.encode(st_tokens(fld, t))[0][:, c * m : (c + 1) * m] for t in times]
    return torch.cat(outs)


def st_forward(
    fld: AnchorField, times: Tensor, step: int
) -> tuple[Tensor, Tensor | None, dict[str, Tensor]]:
    """Spatio-temporal (anchor, time) mode: displacements at the window centre, log-variances
    and L_lagbert = lambda_lagbert mean_{masked tokens} |d_flagged - sg(d_full)|_1.
    """
    cfg = fld.cfg
    m, c = fld.anchors.shape[0], cfg.st_window_size // 2
    ds, lvs, lag = [], [], []
    for t in times:
        h = st_tokens(fld, t)
        d_all, lv_all = fld.encode(h)
        ds.append(d_all[:, c * m : (c + 1) * m])
        if lv_all is not None:
            lvs.append(lv_all[:, c * m : (c + 1) * m])
        if fld._learning() and cfg.lambda_lagbert > 0 and cfg.st_mask_ratio > 0:
            mask = fld.draw_mask(tuple(h.shape[:2]), cfg.st_mask_ratio, step)
            d_flag, _ = fld.encode(fld.apply_flag_mask(h, mask))
            err = (d_flag - d_all.detach()).abs().sum(-1)
            if bool(mask.any()):
                lag.append(err[mask].mean())
    losses = {"lagbert": cfg.lambda_lagbert * torch.stack(lag).mean()} if lag else {}
    return torch.cat(ds), (torch.cat(lvs) if lvs else None), losses
