"""The learned field fitted to global ionosphere maps through the VTEC operator.

Field (4D, per column at (lat, lon, t), altitude h):
    log10 Ne(h) = log10 Ne_IRI(h) + a + b * tanh((h - hmF2_IRI) / 200 km)   (h <= 1000 km)
    Ne above 1000 km = s * plasmasphere (Carpenter & Anderson 1992 + Denton et al. 2002)
with (a, b, log s) = net(physical inputs [, previous-day log ratio]); the map a GIM sees is
VTEC = operators.column_vtec(...), so the loss constrains magnitude, weighted by the GIM's
RMS maps. ``a`` shifts the whole ionospheric column, ``b`` tilts topside against bottomside
(kept small by a penalty: VTEC alone cannot tell them apart), ``s`` rescales the plasmasphere.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ionofield import geometry, plasmasphere
from ionofield.iri import IRIBackground
from ionofield.operators import column_vtec, rms_weighted_mse

SHAPE_SCALE_KM = 200.0
N_GEO = 7  # x, y, z, sin mlat, sin LT, cos LT, cos SZA: the inputs given Fourier features


@dataclass
class Columns:
    """Columns (one per map cell and epoch): inputs, IRI profile, plasmasphere, observation."""

    lat: np.ndarray  # (C,) deg
    lon: np.ndarray  # (C,) deg
    time_s: np.ndarray  # (C,) UNIX s
    feats: torch.Tensor  # (C, F) physical inputs (geometry.features)
    extra: torch.Tensor  # (C, E) extra inputs (e.g. previous-day log10 ratio), E may be 0
    iri: torch.Tensor  # (C, A) IRI log10 Ne [m^-3]
    shape: torch.Tensor  # (C, A) tanh((h - hmF2) / 200 km)
    pec: torch.Tensor  # (C,) plasmaspheric content above 1000 km [TECU]
    alt: torch.Tensor  # (A,) km
    obs: torch.Tensor  # (C,) observed VTEC [TECU] (NaN = none)
    rms: torch.Tensor  # (C,) its RMS [TECU] (NaN = none)

    def subset(self, idx: np.ndarray) -> Columns:
        """The columns at integer indices ``idx``."""
        t = torch.as_tensor(idx)
        return Columns(
            self.lat[idx],
            self.lon[idx],
            self.time_s[idx],
            self.feats[t],
            self.extra[t],
            self.iri[t],
            self.shape[t],
            self.pec[t],
            self.alt,
            self.obs[t],
            self.rms[t],
        )


def build_columns(
    lat: np.ndarray,
    lon: np.ndarray,
    time_s: np.ndarray,
    bg: IRIBackground,
    sw_lag_s: float = 0.0,
) -> Columns:
    """Columns at points (1-D, equal length) with IRI from ``bg`` and no observation.

    ``sw_lag_s`` shifts the space-weather inputs (Kp, F10.7, plasmapause Kp) back in time so
    that a forecast uses only drivers known when it is issued.
    """
    lat, lon, time_s = (np.asarray(a, float).reshape(-1) for a in (lat, lon, time_s))
    alt = bg.alt
    n, na = lat.size, alt.size
    rep = lambda a: np.repeat(a, na)  # noqa: E731
    iri = bg.log10_ne(rep(lat), rep(lon), np.tile(alt, n), rep(time_s)).reshape(n, na)
    _, hmf2 = bg.f2_peak(lat, lon, time_s)
    shape = np.tanh((alt[None, :] - hmf2[:, None]) / SHAPE_SCALE_KM)
    feats = geometry.features(lat, lon, time_s - sw_lag_s)
    sw_t = time_s - sw_lag_s
    pec = plasmasphere.vtec_tecu(
        geometry.magnetic_latitude_deg(lat, lon),
        geometry.day_of_year(time_s),
        geometry.swx.f107_at(sw_t),
        feats[:, geometry.FEATURE_NAMES.index("kp_max24")] * geometry.swx.KP_SCALE,
        base_km=float(alt[-1]),
    )
    f32 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    nan = torch.full((n,), float("nan"))
    return Columns(
        lat, lon, time_s, f32(feats), torch.zeros(n, 0), f32(iri), f32(shape), f32(pec),
        torch.as_tensor(alt, dtype=torch.float32), nan, nan.clone(),
    )  # fmt: skip


def prior_vtec(cols: Columns) -> torch.Tensor:
    """VTEC [TECU] of IRI + the empirical plasmasphere (the field with a = b = 0, s = 1)."""
    return column_vtec(cols.iri, cols.alt, cols.pec)


class ColumnNet(nn.Module):
    """(a, b, s) of each column from its physical inputs (and optional extra inputs).

    Fourier features sin/cos(2 pi B g) of the geometric inputs g (B ~ N(0, sigma^2), fixed)
    give the small MLP the resolution of a GIM; an extra input e_0 (the previous day's log10
    ratio GIM / prior) enters ``a`` also through a learned linear skip ``gain * e_0``.
    """

    def __init__(
        self,
        n_extra: int = 0,
        hidden: int = 64,
        layers: int = 2,
        fourier: int = 0,
        sigma: float = 1.0,
        inputs: tuple[str, ...] = geometry.FEATURE_NAMES,
    ) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1234)
        self.register_buffer("fourier_b", torch.randn(N_GEO, fourier, generator=g) * sigma)
        idx = [geometry.FEATURE_NAMES.index(n) for n in inputs]
        self.register_buffer("feature_idx", torch.as_tensor(idx, dtype=torch.long))
        n_in = len(idx) + 2 * fourier + n_extra
        mods: list[nn.Module] = []
        for k in range(layers):
            mods += [nn.Linear(n_in if k == 0 else hidden, hidden), nn.SiLU()]
        self.trunk = nn.Sequential(*mods)
        self.head = nn.Linear(hidden, 3)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.gain = nn.Parameter(torch.ones(())) if n_extra else None

    def forward(self, feats: torch.Tensor, extra: torch.Tensor) -> tuple:
        """(a [log10], b [log10], s [-]), each (C,); ``last_a_net`` keeps the net's part of a."""
        x = [feats[:, self.feature_idx], extra]
        if self.fourier_b.shape[1]:
            proj = 2 * math.pi * feats[:, :N_GEO] @ self.fourier_b
            x += [torch.sin(proj), torch.cos(proj)]
        out = self.head(self.trunk(torch.cat(x, -1)))
        a = self.last_a_net = out[:, 0]
        if self.gain is not None:
            a = a + self.gain * extra[:, 0]
        return a, 0.3 * torch.tanh(out[:, 1]), torch.exp(out[:, 2].clamp(-3.0, 2.0))


def field_vtec(net: ColumnNet, cols: Columns) -> tuple[torch.Tensor, torch.Tensor]:
    """(VTEC [TECU], b) of the columns under ``net``."""
    a, b, s = net(cols.feats, cols.extra)
    log_ne = cols.iri + a[:, None] + b[:, None] * cols.shape
    return column_vtec(log_ne, cols.alt, cols.pec, s), b


def log10_ne_at(net: ColumnNet, cols: Columns) -> torch.Tensor:
    """log10 Ne [m^-3] of the field on each column's altitude grid, (C, A)."""
    a, b, _ = net(cols.feats, cols.extra)
    return cols.iri + a[:, None] + b[:, None] * cols.shape


@torch.no_grad()
def predict_vtec(net: ColumnNet, cols: Columns, batch: int = 16384) -> np.ndarray:
    """VTEC [TECU] of every column (batched, no gradients)."""
    net.eval()
    out = [field_vtec(net, cols.subset(np.arange(i, min(i + batch, cols.lat.size))))[0]
           for i in range(0, cols.lat.size, batch)]  # fmt: skip
    return torch.cat(out).numpy().astype(float)


@dataclass(frozen=True)
class FitSettings:
    """Optimisation of a :class:`ColumnNet` on columns."""

    steps: int = 1500
    batch: int = 4096
    lr: float = 3e-3
    weight_decay: float = 1e-4
    w_tilt: float = 0.01
    w_net: float = 0.0
    """Penalty on the square of the net's part of the column shift (shrinks it to the skip)."""
    eval_every: int = 100
    seed: int = 0


def _loss(net: ColumnNet, cols: Columns, fs: FitSettings) -> torch.Tensor:
    vtec, b = field_vtec(net, cols)
    pen = fs.w_tilt * torch.mean(b**2) + fs.w_net * torch.mean(net.last_a_net**2)
    return rms_weighted_mse(vtec, cols.obs, cols.rms) + pen


def fit(net: ColumnNet, train: Columns, val: Columns | None, fs: FitSettings) -> dict:
    """Adam + cosine decay on the RMS-weighted VTEC misfit; keeps the state best on ``val``.

    ``val`` must not contain the columns reported as a test. Returns the loss history.
    """
    from common.schedule import warmup_cosine_scheduler

    torch.manual_seed(fs.seed)
    rng = np.random.default_rng(fs.seed)
    opt = torch.optim.AdamW(net.parameters(), lr=fs.lr, weight_decay=fs.weight_decay)
    sched = warmup_cosine_scheduler(opt, fs.steps, max(fs.steps // 20, 1), 0.05)
    n = train.lat.size
    best, best_state, hist = float("inf"), None, []
    for step in range(1, fs.steps + 1):
        net.train()
        loss = _loss(net, train.subset(rng.choice(n, min(fs.batch, n), replace=False)), fs)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % fs.eval_every == 0 or step == fs.steps:
            v = _val_rmse(net, val if val is not None else train)
            hist.append({"step": step, "train_loss": float(loss.detach()), "val_rmse": v})
            if v < best or best_state is None:  # a NaN validation keeps the latest state
                best, best_state = (v if np.isfinite(v) else best), copy.deepcopy(net.state_dict())
    net.load_state_dict(best_state)
    return {"history": hist, "best_val_rmse": best}


def _val_rmse(net: ColumnNet, cols: Columns) -> float:
    pred = predict_vtec(net, cols)
    obs = cols.obs.numpy()
    ok = np.isfinite(obs)
    return float(np.sqrt(np.mean((pred[ok] - obs[ok]) ** 2)))
