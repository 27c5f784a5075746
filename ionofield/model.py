"""R-STMRF networks: SIREN spatial/temporal nets, Kp/F10.7 LSTM modulation, fusion decoder,
and a ConvLSTM over hourly TEC maps whose 2-channel head predicts the horizontal TEC
gradient direction (used only by the loss; it never modulates the field).

Field: log10 Ne = IRI + r(lat, lon, alt, LT, t | Kp, F10.7), with a log-variance s for a
heteroscedastic Gaussian likelihood. SIREN layers: y = sin(omega W x + b) (Sitzmann et al.
2020 init: first layer U(-1/n, 1/n), later U(-sqrt(6/n)/omega, sqrt(6/n)/omega)).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ionofield.config import IonofieldConfig, ModelConfig

ALT_REF_KM, ALT_SCALE_KM = 500.0, 400.0


class SirenLayer(nn.Module):
    """sin(omega (W x + b)) with SIREN initialisation."""

    def __init__(self, n_in: int, n_out: int, omega: float, first: bool) -> None:
        super().__init__()
        self.linear, self.omega = nn.Linear(n_in, n_out), omega
        bound = 1.0 / n_in if first else math.sqrt(6.0 / n_in) / omega
        nn.init.uniform_(self.linear.weight, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Sine of the scaled affine map of ``x`` (..., n_in) -> (..., n_out)."""
        return torch.sin(self.omega * self.linear(x))


def siren(n_in: int, hidden: int, layers: int, omega0: float) -> nn.Sequential:
    """A SIREN trunk: ``layers`` sine layers of width ``hidden`` (first with omega0, then 1)."""
    mods = [SirenLayer(n_in, hidden, omega0, first=True)]
    mods += [SirenLayer(hidden, hidden, 1.0, first=False) for _ in range(layers - 1)]
    return nn.Sequential(*mods)


class ConvLSTM(nn.Module):
    """One ConvLSTM layer (Shi et al. 2015), 3x3 gates, then a 1x1 head to 2 channels."""

    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        self.channels = channels
        self.gates = nn.Conv2d(1 + channels, 4 * channels, kernel_size=3, padding=1)
        self.head = nn.Conv2d(channels, 2, kernel_size=1)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        """Maps (U, L, H, W) normalised TEC -> direction field (U, 2, H, W) (east, north)."""
        u, length, hgt, wid = maps.shape
        h = maps.new_zeros(u, self.channels, hgt, wid)
        c = torch.zeros_like(h)
        for k in range(length):
            i, f, o, g = self.gates(torch.cat([maps[:, k : k + 1], h], 1)).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        return self.head(h)


def sample_maps(
    maps: torch.Tensor, win_idx: torch.Tensor, lat: torch.Tensor, lon: torch.Tensor
) -> torch.Tensor:
    """Bilinear samples of ``maps`` (U, C, 71, 73; rows 87.5..-87.5, cols -180..180) at points.

    Point p reads map ``win_idx[p]`` at (lat[p], lon[p]) with ``grid_sample``; returns (B, C).
    """
    grid_x = (torch.remainder(lon + 180.0, 360.0) - 180.0) / 180.0
    grid_y = -lat / 87.5
    out = maps.new_zeros(lat.shape[0], maps.shape[1])
    for u in torch.unique(win_idx).tolist():
        sel = torch.nonzero(win_idx == u).squeeze(1)
        grid = torch.stack([grid_x[sel], grid_y[sel]], -1).view(1, -1, 1, 2).to(maps.dtype)
        val = F.grid_sample(maps[u : u + 1], grid, align_corners=True, padding_mode="border")
        out[sel] = val[0, :, :, 0].t()
    return out


def extra_cols(extra: list[torch.Tensor]) -> list[torch.Tensor]:
    """Column views (B, 1) of optional extra inputs."""
    return [e[:, None] for e in extra]


def physical_inputs(
    lat: torch.Tensor, lon: torch.Tensor, time_s: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spatial (B, 7) and temporal (B, 4) inputs, differentiable in lat/lon [deg].

    Spatial: unit vector (cos lat cos lon, cos lat sin lon, sin lat), sin(magnetic latitude)
    of the centred dipole (:mod:`ionofield.geometry`), sin/cos of local time, cos of the solar
    zenith angle. Temporal: sin/cos of the day of year and of UT. Time ``time_s`` is UNIX s.
    """
    from ionofield import geometry

    rad = math.pi / 180.0
    la, lo = lat * rad, lon * rad
    t = time_s.detach().cpu().double().numpy()
    doy = torch.as_tensor(geometry.day_of_year(t), dtype=lat.dtype, device=lat.device)
    ut_h = torch.remainder(time_s, 86400.0).to(lat.dtype) / 3600.0
    lt = 2 * math.pi * (ut_h + lon / 15.0) / 24.0
    plat, plon = geometry.POLE_LAT_DEG * rad, geometry.POLE_LON_DEG * rad
    sin_mlat = torch.sin(la) * math.sin(plat) + torch.cos(la) * math.cos(plat) * torch.cos(
        lo - plon
    )
    dec = -geometry.OBLIQUITY_DEG * rad * torch.cos(2 * math.pi * (doy + 10) / 365.25)
    cos_sza = torch.sin(la) * torch.sin(dec) - torch.cos(la) * torch.cos(dec) * torch.cos(lt)
    geo = torch.stack(
        [torch.cos(la) * torch.cos(lo), torch.cos(la) * torch.sin(lo), torch.sin(la), sin_mlat,
         torch.sin(lt), torch.cos(lt), cos_sza], -1,
    )  # fmt: skip
    yr, ut = 2 * math.pi * doy / 365.25, 2 * math.pi * ut_h / 24.0
    return geo, torch.stack([torch.sin(yr), torch.cos(yr), torch.sin(ut), torch.cos(ut)], -1)


class RSTMRF(nn.Module):
    """The residual field and the TEC-direction branch.

    Inputs are physical (:func:`physical_inputs`): position on the unit sphere (no seam at
    lon +-180), magnetic latitude, local time, solar zenith angle, day of year and UT; there
    is no absolute time, so a later day is not an extrapolation.
    """

    def __init__(self, cfg: ModelConfig, use_tec: bool = True) -> None:
        super().__init__()
        self.cfg, self.use_tec = cfg, use_tec
        n_space = 8 + int(cfg.hmf2_input)
        self.spatial = siren(n_space, cfg.spatial_hidden, cfg.spatial_layers, cfg.omega0)
        self.temporal = siren(4, cfg.temporal_hidden, cfg.temporal_layers, cfg.omega0)
        self.lstm = nn.LSTM(2, cfg.lstm_hidden, batch_first=True)
        self.modulation = nn.Linear(cfg.lstm_hidden, cfg.temporal_hidden)
        self.to_spatial = nn.Linear(cfg.temporal_hidden, cfg.spatial_hidden)
        h = cfg.spatial_hidden
        self.decoder = nn.Sequential(
            nn.Linear(3 * h, cfg.decoder_hidden),
            nn.SiLU(),
            nn.Linear(cfg.decoder_hidden, cfg.decoder_hidden),
            nn.SiLU(),
            nn.Linear(cfg.decoder_hidden, 2),
        )
        nn.init.zeros_(self.decoder[-1].weight)
        nn.init.constant_(self.decoder[-1].bias, 0.0)
        self.tec_net = ConvLSTM(cfg.conv_channels) if use_tec else None

    def field(
        self,
        coords: torch.Tensor,
        time_s: torch.Tensor,
        drivers: torch.Tensor,
        win_idx: torch.Tensor,
        hmf2: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Coords (B, 3) [lat deg, lon deg, alt km]; time_s (B,) float64; drivers (U, S, 2);
        hmf2 (B,) IRI F2 peak height [km] (needed when ``cfg.hmf2_input``; it is a per-point
        constant, so autograd derivatives in lat/lon do not include d hmF2/dlat, dlon).

        Returns residual (B,) [log10 m^-3] and log-variance (B,).
        """
        lat, lon, alt = coords.unbind(-1)
        extra = []
        if self.cfg.hmf2_input:
            if hmf2 is None:
                raise ValueError("this model needs the IRI hmF2 of every point")
            extra = [(alt - hmf2.to(coords.dtype)) / 100.0]
        geo, x_t = physical_inputs(lat, lon, time_s)
        x_s = torch.cat([geo, ((alt - ALT_REF_KM) / ALT_SCALE_KM)[:, None], *extra_cols(extra)], -1)
        _, (h_n, _) = self.lstm(drivers.to(coords.dtype))
        tau = self.temporal(x_t) + self.modulation(h_n[-1])[win_idx]
        s = self.spatial(x_s)
        tau = self.to_spatial(tau)
        out = self.decoder(torch.cat([s, tau, s * tau], -1))
        return out[:, 0], out[:, 1]

    def tec_direction(self, tec_windows: torch.Tensor) -> torch.Tensor:
        """ConvLSTM over (U, L, 71, 73) normalised TEC windows -> (U, 2, 71, 73)."""
        return self.tec_net(tec_windows)

    def forward(self, batch: dict, derivatives: bool = True) -> dict:
        """Field outputs, autograd derivatives of the residual and the TEC direction maps.

        ``batch``: coords, time_s, drivers, win_idx, optional tec (U, L, H, W) and n_deriv.
        ``d_resid`` (n_deriv, 3) holds d r/dlat, d r/dlon [1/deg] and d2 r/dh2 [1/(100 km)^2]
        of the first ``n_deriv`` points (all when absent).
        """
        coords = batch["coords"]
        hm = batch.get("hmf2")
        r, logvar = self.field(coords, batch["time_s"], batch["drivers"], batch["win_idx"], hm)
        out = {"residual": r, "logvar": logvar}
        if derivatives:
            # derivatives on the first n_deriv points only (the double backward dominates the cost)
            n = min(int(batch.get("n_deriv") or coords.shape[0]), coords.shape[0])
            c = coords[:n].detach().requires_grad_(True)
            r_d, _ = self.field(
                c,
                batch["time_s"][:n],
                batch["drivers"],
                batch["win_idx"][:n],
                None if hm is None else hm[:n],
            )
            create = torch.is_grad_enabled() and self.training
            (g,) = torch.autograd.grad(r_d.sum(), c, create_graph=True)
            (g2,) = torch.autograd.grad(g[:, 2].sum(), c, create_graph=create)
            out["d_resid"] = torch.stack([g[:, 0], g[:, 1], g2[:, 2] * 1.0e4], -1)
        if self.tec_net is not None and batch.get("tec") is not None:
            out["direction_maps"] = self.tec_direction(batch["tec"])
        return out


def build_model(cfg: IonofieldConfig, prep: Any = None) -> RSTMRF:
    """The network of ``cfg`` (``prep`` is accepted for compatibility; inputs are physical, so
    no time frame is taken from the data).

    Parameters
    ----------
    cfg
        The run's config (``model`` sizes; the ConvLSTM exists when ``loss.w_tec_direction > 0``).
    prep
        Unused (the network has no absolute-time input to normalise).

    Returns
    -------
    RSTMRF
        The freshly initialised network on the CPU.
    """
    del prep
    return RSTMRF(cfg.model, use_tec=cfg.loss.w_tec_direction > 0)
