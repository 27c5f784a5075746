"""RCAB3D/CBAM correction network and the projection onto valid CCZ4 data.

    y = P(x + m * r(x) * scaling_factor)

r = tail(blocks(head(x - flat))) with head Conv3d(25 -> C), N residual channel-attention blocks
(conv-act-conv, then 3D CBAM: channel attention sigmoid(MLP(avg) + MLP(max)) with a shared
1x1x1 MLP, spatial attention sigmoid(Conv3d(2 -> 1, k=7)([mean_c, max_c]))), each
``x + res_scale * CBAM(...)``, and a zero-initialised tail Conv3d(C -> 25): an untrained
network returns its input exactly. m masks variables (``correct_vars``) and optionally a border.
When chi changes, A_ij is rescaled by (chi_y / chi_x)^(3/2) (``conformal_rescale_a``), as in
the conformal-transverse-traceless method, so the correction does not create Mom.
With ``output_operator: poisson`` the chi channel of m * r * scaling_factor is instead the source
s of the conformal-factor equation and psi = chi^(-1/4) -> psi + L^-1 s (``nrfix.poisson``):
the network only has to learn the local source; the fixed inverse Laplacian supplies the
nonlocal part that a finite receptive field cannot.
P projects onto det h = 1 (h / det(h)^(1/3)), trace-free A (A - h tr(A)/3), chi, lapse >= floor.
Float64 throughout by default (``compute_dtype`` may run the convolutions in float32 for CPU
speed; inputs, the residual sum, projection and constraints stay float64), padding 'same',
any grid size >= 5^3.
"""

from __future__ import annotations

import torch
from torch import nn

from nrfix.config import Config, ModelConfig
from nrfix.constraints import C_A, C_H, IDX, NUM_VARS, VAR_NAMES, det_sym, inverse_sym, sym_to_full
from nrfix.poisson import inverse_laplacian


class Conv3dSame(nn.Conv3d):
    """Conv3d with padding 'same' that runs inference in float32 on the CPU through oneDNN.

    PyTorch's CPU dispatch (tuned for 2D) sends a batch-1 input with N*C*D*H <= 20480 (e.g.
    12 channels on a 32^3 grid) to a naive kernel ~10x slower than oneDNN; ``correct`` runs
    batch 1. Training (autograd) and other dtypes/devices keep the stock path.
    """

    def __init__(self, cin: int, cout: int, kernel: int, dilation: int = 1) -> None:
        super().__init__(cin, cout, kernel, padding="same", dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """X (B, Cin, D, H, W) -> (B, Cout, D, H, W)."""
        fast = (
            x.device.type == "cpu"
            and x.dtype == torch.float32
            and torch.backends.mkldnn.is_available()
            and torch.backends.mkldnn.enabled
            and not (torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad))
        )
        if not fast:
            return super().forward(x)
        pad = [d * (k - 1) // 2 for d, k in zip(self.dilation, self.kernel_size)]
        return torch.mkldnn_convolution(
            x.contiguous(), self.weight, self.bias, pad, self.stride, self.dilation, self.groups
        )


class CBAM3D(nn.Module):
    """Convolutional block attention (Woo et al. 2018) in 3D: channel then spatial gating."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.mlp = nn.Sequential(
            nn.Conv3d(channels, hidden, 1), nn.ReLU(), nn.Conv3d(hidden, channels, 1)
        )
        self.spatial = Conv3dSame(2, 1, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """X (B, C, D, H, W) -> same shape."""
        avg = x.mean(dim=(2, 3, 4), keepdim=True)
        mx = x.amax(dim=(2, 3, 4), keepdim=True)
        x = x * torch.sigmoid(self.mlp(avg) + self.mlp(mx))
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(pooled))


class RCAB3D(nn.Module):
    """Residual channel-attention block: x + res_scale * CBAM(conv(act(conv(x))))."""

    def __init__(self, channels: int, reduction: int, dilation: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            Conv3dSame(channels, channels, 3, dilation),
            nn.GELU(),
            Conv3dSame(channels, channels, 3, dilation),
            CBAM3D(channels, reduction),
        )

    def forward(self, x: torch.Tensor, res_scale: float) -> torch.Tensor:
        """X (B, C, D, H, W) -> same shape."""
        return x + res_scale * self.body(x)


def _flat_background() -> torch.Tensor:
    flat = torch.zeros(NUM_VARS, dtype=torch.float64)
    for name in ("chi", "h11", "h22", "h33", "lapse"):
        flat[IDX[name]] = 1.0
    return flat.view(1, NUM_VARS, 1, 1, 1)


def border_mask(shape: tuple[int, int, int], fraction: float, like: torch.Tensor) -> torch.Tensor:
    """(1, 1, D, H, W) mask: 0 on the faces, smooth (sin^2) ramp to 1 over ``fraction`` per axis."""
    mask = torch.ones(1, 1, *shape, dtype=like.dtype, device=like.device)
    if fraction <= 0:
        return mask
    for ax, n in enumerate(shape):
        width = max(fraction * n, 1e-9)
        i = torch.arange(n, dtype=like.dtype, device=like.device)
        dist = torch.minimum(i + 0.5, n - 0.5 - i)
        ramp = torch.sin(0.5 * torch.pi * torch.clamp(dist / width, max=1.0)) ** 2
        mask = mask * ramp.view([1, 1] + [n if a == ax else 1 for a in range(3)])
    return mask


def project(x: torch.Tensor, chi_floor: float, lapse_floor: float) -> torch.Tensor:
    """Project (B, 25, ...) data onto det h = 1, trace-free A, chi >= floor, lapse >= floor."""
    h = sym_to_full(x[:, C_H])
    det = det_sym(h)
    h = h * torch.clamp(det, min=1e-300)[:, None, None] ** (-1.0 / 3.0)
    a = sym_to_full(x[:, C_A])
    tr_a = torch.einsum("bij...,bij...->b...", inverse_sym(h), a)
    a = a - h * tr_a[:, None, None] / 3.0
    sym = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    out = list(x.unbind(1))
    for c, (i, j) in enumerate(sym):
        out[C_H.start + c], out[C_A.start + c] = h[:, i, j], a[:, i, j]
    out[IDX["chi"]] = torch.clamp(out[IDX["chi"]], min=chi_floor)
    out[IDX["lapse"]] = torch.clamp(out[IDX["lapse"]], min=lapse_floor)
    return torch.stack(out, 1)


def on_surface(x: torch.Tensor, cfg: ModelConfig, tol: float = 1e-10) -> torch.Tensor:
    """(B, 1, ...) bool: cells that already satisfy det h = 1, tr A = 0 and the floors."""
    h = sym_to_full(x[:, C_H])
    tr_a = torch.einsum("bij...,bij...->b...", inverse_sym(h), sym_to_full(x[:, C_A]))
    ok = ((det_sym(h) - 1).abs() < tol) & (tr_a.abs() < tol)
    ok = ok & (x[:, IDX["chi"]] >= cfg.chi_floor) & (x[:, IDX["lapse"]] >= cfg.lapse_floor)
    return ok[:, None]


def rescale_a(x: torch.Tensor, y: torch.Tensor, chi_floor: float) -> torch.Tensor:
    """Keep the conformal-transverse-traceless Abar_ij = chi^(-3/2) A_ij of x when chi changes.

    With gamma = psi^4 gammabar and A^ij = psi^-10 Abar^ij the momentum constraint is
    conformally covariant, so a pure conformal-factor correction leaves Mom unchanged (K = 0).
    """
    ratio = torch.clamp(y[:, :1], min=chi_floor) / torch.clamp(x[:, :1], min=chi_floor)
    return torch.cat([y[:, : C_A.start], y[:, C_A] * ratio**1.5, y[:, C_A.stop :]], dim=1)


def check_input(x: torch.Tensor) -> None:
    """Raise on anything but float64 (B, 25, D, H, W) with D, H, W >= 5."""
    if x.dim() != 5 or x.shape[1] != NUM_VARS or min(x.shape[2:]) < 5:
        raise ValueError(
            f"expected (B, {NUM_VARS}, D, H, W) with D, H, W >= 5, got {tuple(x.shape)}"
        )
    if x.dtype != torch.float64:
        raise TypeError(f"nrfix works in float64, got {x.dtype}")


def poisson_chi(x: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """``poisson`` output: delta's chi channel is a source s, u = L^-1 s, psi -> psi + u.

    chi = psi^-4, so chi_y = chi_x (1 + u chi_x^(1/4))^-4 (1 + u psi^-1 floored at 0.05); the
    other channels take delta additively.
    """
    u = inverse_laplacian(delta[:, :1])
    chi = x[:, :1]
    factor = torch.clamp(1.0 + u * torch.clamp(chi, min=0.0) ** 0.25, min=0.05)
    return torch.cat([chi * factor**-4, x[:, 1:] + delta[:, 1:]], dim=1)


def linearised_source(x: torch.Tensor, chi_floor: float) -> torch.Tensor:
    """(B, 1, ...) -(1/8) chi^(-5/4) A_ij A^ij: the source of lap(u) that cancels the Hamiltonian
    violation of conformally flat, maximally sliced (K = 0) data to first order in u (Bowen-York:
    Ham = -psi^-12 Abar_ij Abar^ij, psi = chi^(-1/4)); indices raised with h^ij.
    """
    h_uu = inverse_sym(sym_to_full(x[:, C_H]))
    a = sym_to_full(x[:, C_A])
    m = torch.einsum("bik...,bkj...->bij...", h_uu, a)  # A_ij A^ij = tr((h^-1 A)^2)
    aa = (m * m.transpose(1, 2)).sum(dim=(1, 2))
    return -0.125 * torch.clamp(x[:, :1], min=chi_floor) ** -1.25 * aa[:, None]


def prior_held(x: torch.Tensor, chi_excision: float = 0.05, dilate: int = 2) -> torch.Tensor:
    """(B, 1, ...) float mask of the cells the residual-driven prior holds fixed: chi below
    ``chi_excision`` or a local minimum of chi below 0.5, dilated by ``dilate`` cells (the
    torch twin of :func:`nrfix.newton.excision_mask`).
    """
    import torch.nn.functional as F  # noqa: N812

    chi = x[:, :1]
    local_min = chi <= -F.max_pool3d(-chi, 3, stride=1, padding=1)
    inside = ((chi < chi_excision) | (local_min & (chi < 0.5))).to(x.dtype)
    k = 2 * dilate + 1
    return (F.max_pool3d(inside, k, stride=1, padding=dilate) > 0).to(x.dtype)


class NRFixNet(nn.Module):
    """The correction network; ``forward(x)`` returns projected corrected data of x's shape."""

    whole_grid = False
    """Local steps: ``correct_grid`` applies it patch by patch (`nrfix.relax.PriorRelax`: True)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        self.head = Conv3dSame(NUM_VARS, c, 3)
        dil = cfg.dilations or (1,)
        self.blocks = nn.ModuleList(
            RCAB3D(c, cfg.reduction, dil[i % len(dil)]) for i in range(cfg.blocks)
        )
        self.tail = Conv3dSame(c, NUM_VARS, 3)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)
        names = VAR_NAMES if "all" in cfg.correct_vars else cfg.correct_vars
        unknown = [n for n in names if n not in IDX]
        if unknown:
            raise ValueError(f"unknown variable(s) in model.correct_vars: {', '.join(unknown)}")
        vmask = torch.zeros(1, NUM_VARS, 1, 1, 1, dtype=torch.float64)
        vmask[0, [IDX[n] for n in names]] = 1.0
        self.register_buffer("var_mask", vmask)
        self.register_buffer("flat", _flat_background())
        self.res_scale = cfg.res_scale_end
        if cfg.compute_dtype not in ("float64", "float32"):
            raise ValueError(
                f"model.compute_dtype must be float64 or float32, not {cfg.compute_dtype!r}"
            )
        if cfg.output_operator not in ("additive", "poisson"):
            raise ValueError(
                f"model.output_operator must be additive or poisson, not {cfg.output_operator!r}"
            )
        if cfg.source_prior and cfg.output_operator != "poisson":
            raise ValueError("model.source_prior needs model.output_operator: poisson")
        if cfg.source_prior:  # g of s = dx^2 f (g + r s_f); 0 keeps the untrained net exact
            self.prior_gain = nn.Parameter(torch.zeros((), dtype=torch.float64))
        self.compute_dtype = getattr(torch, cfg.compute_dtype)
        for module in (self.head, self.blocks, self.tail):
            module.to(self.compute_dtype)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """r(x): (B, 25, D, H, W) raw network output (before mask and scaling)."""
        z = self.head((x - self.flat).to(self.compute_dtype))
        for block in self.blocks:
            z = block(z, self.res_scale)
        return self.tail(z).to(torch.float64)

    @property
    def global_operator(self) -> bool:
        """True when the output step is nonlocal (``poisson``): patch the residual only."""
        return self.cfg.output_operator == "poisson"

    def forward(self, x: torch.Tensor, dx: float | None = None) -> torch.Tensor:
        """X (B, 25, D, H, W) float64 -> corrected, projected data of the same shape.
        ``dx`` (the grid spacing) is needed only by ``source_prior``.

        Where the input already lies on the projection surface the output is
        x + [P(x + delta) - P(x)], so delta = 0 returns x bit for bit.
        """
        check_input(x)
        return self.assemble(x, self.residual(x), dx)

    def assemble(self, x: torch.Tensor, r: torch.Tensor, dx: float | None = None) -> torch.Tensor:
        """Corrected data from the input x and the raw network output r = residual(x)."""
        check_input(x)
        mask = self.var_mask * border_mask(tuple(x.shape[2:]), self.cfg.mask_percentage, x)
        if self.cfg.on_prior:  # held cells within 1 of the core: the bulk keeps the prior's
            mask = mask * prior_held(x, dilate=1)
        delta = mask * r * self.cfg.scaling_factor
        if self.cfg.source_prior:
            if dx is None:
                raise ValueError("model.source_prior needs the grid spacing: call net(x, dx)")
            prior = dx**2 * linearised_source(x, self.cfg.chi_floor)
            chi_src = mask[:, :1] * prior * (self.prior_gain + r[:, :1] * self.cfg.scaling_factor)
            delta = torch.cat([chi_src, delta[:, 1:]], dim=1)
        if self.global_operator:
            y = poisson_chi(x, delta)
        elif self.cfg.on_prior:  # chi is multiplied (it spans decades beside a puncture)
            y = torch.cat([x[:, :1] * torch.exp(delta[:, :1]), x[:, 1:] + delta[:, 1:]], dim=1)
        else:
            y = x + delta
        if self.cfg.conformal_rescale_a:
            y = rescale_a(x, y, self.cfg.chi_floor)
        floors = (self.cfg.chi_floor, self.cfg.lapse_floor)
        py = project(y, *floors)
        if self.cfg.on_prior:  # only the change the projection makes to the network's step
            return x + prior_held(x, dilate=1) * (py - project(x, *floors))
        return torch.where(on_surface(x, self.cfg), x + (py - project(x, *floors)), py)


def build_model(cfg: Config) -> NRFixNet:
    """The network a run's config describes (float64 parameters, compute dtype as configured).

    Parameters
    ----------
    cfg
        The full run configuration; only ``cfg.model`` is used.

    Returns
    -------
    NRFixNet
        A freshly initialised network (zero tail: it returns its input exactly).

    Raises
    ------
    common.config.ConfigError
        When ``cfg.model`` names an unknown variable or an impossible combination.
    """
    from common.config import ConfigError

    try:
        return NRFixNet(cfg.model)
    except ValueError as exc:
        raise ConfigError(f"invalid config 'model': {exc}") from None
