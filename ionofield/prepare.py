"""Observations -> tensors: IRI background and its derivatives, hourly drivers and TEC windows.

Hour index h of a point = floor((t - t0) / 1 h), t0 = first TEC map. Map h is the map at
t0 + h hours; a point's TEC window is maps h-L+1 .. h (clamped at 0), its Kp/F10.7 sequence
the ``seq_len`` hours ending at h. Both are stored once per hour and indexed per batch.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ionofield import swx
from ionofield.config import IonofieldConfig
from ionofield.data import Scenario
from ionofield.errors import IonofieldError
from ionofield.iri import IRIBackground
from ionofield.losses import map_gradient

TEC_SCALE = 30.0
IONEX_LAT = torch.arange(87.5, -87.6, -2.5, dtype=torch.float64)


@dataclass
class Prepared:
    """Tensors of one scenario (CPU); ``N`` observations, ``T`` hourly maps."""

    coords: torch.Tensor  # (N, 3) lat, lon, alt_km
    time_s: torch.Tensor  # (N,) float64 UNIX s
    y: torch.Tensor  # (N,) observed log10 Ne
    bg: torch.Tensor  # (N,) IRI log10 Ne
    bg_deriv: torch.Tensor  # (N, 3) IRI d/dlat, d/dlon, d2/dh2
    hmf2: torch.Tensor  # (N,) IRI hmF2 [km] at the points
    hour_idx: torch.Tensor  # (N,) long
    drivers: torch.Tensor  # (T, seq_len, 2)
    tec: torch.Tensor  # (T, 71, 73) TEC / TEC_SCALE
    tec_grad: torch.Tensor  # (T, 2, 71, 73)
    t0_s: float
    obs: dict


def prepare(
    cfg: IonofieldConfig,
    scenario: Scenario,
    background: IRIBackground,
    dtype: torch.dtype = torch.float32,
) -> Prepared:
    """Compute every per-point and per-hour quantity once."""
    o, t0 = scenario.obs, float(scenario.tec_epochs_s[0])
    where = f"{scenario.folder or 'scenario'}"
    gaps = np.flatnonzero(np.diff(scenario.tec_epochs_s) != 3600.0)
    if gaps.size:
        after = dt.datetime(1970, 1, 1) + dt.timedelta(
            seconds=float(scenario.tec_epochs_s[gaps[0]])
        )
        raise IonofieldError(
            f"{where}/tec: TEC maps must be hourly and contiguous "
            f"(gap after {after:%Y-%m-%d %H:%M})"
        )
    hour = np.floor((o["time_s"] - t0) / 3600.0).astype(np.int64)
    outside = (hour < 0) | (hour >= scenario.tec_epochs_s.size)
    if outside.any():
        raise IonofieldError(
            f"{where}: {int(outside.sum())} observations fall outside the time span of the TEC "
            "maps in tec/"
        )
    bg = background.log10_ne(o["lat"], o["lon"], o["alt_km"], o["time_s"])
    deriv = background.derivatives(o["lat"], o["lon"], o["alt_km"], o["time_s"])
    _, hmf2 = background.f2_peak(o["lat"], o["lon"], o["time_s"])
    tec = torch.as_tensor(scenario.tec_tecu / TEC_SCALE, dtype=dtype)
    f = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype)  # noqa: E731
    return Prepared(
        coords=f(np.stack([o["lat"], o["lon"], o["alt_km"]], -1)),
        time_s=torch.as_tensor(o["time_s"], dtype=torch.float64),
        y=f(o["log10_ne"]),
        bg=f(bg),
        bg_deriv=f(deriv),
        hmf2=f(hmf2),
        hour_idx=torch.as_tensor(hour),
        drivers=f(swx.sequences(scenario.tec_epochs_s, cfg.data.seq_len)),
        tec=tec,
        tec_grad=map_gradient(tec, IONEX_LAT.to(dtype)),
        t0_s=t0,
        obs=o,
    )


def make_batch(
    p: Prepared,
    idx: torch.Tensor,
    tec_len: int,
    with_tec: bool,
    device: torch.device,
    stride: int = 1,
) -> dict:
    """A training/eval batch: unique hourly windows computed once, indexed per point.

    TEC windows (U, tec_len, H, W) use every ``stride``-th map row/column.
    """
    uniq, inv = torch.unique(p.hour_idx[idx], return_inverse=True)
    batch = {
        "coords": p.coords[idx].to(device),
        "time_s": p.time_s[idx].to(device),
        "y": p.y[idx].to(device),
        "bg": p.bg[idx].to(device),
        "bg_deriv": p.bg_deriv[idx].to(device),
        "hmf2": p.hmf2[idx].to(device),
        "drivers": p.drivers[uniq].to(device),
        "win_idx": inv.to(device),
        "tec": None,
    }
    if with_tec:
        win = (uniq[:, None] - torch.arange(tec_len - 1, -1, -1)[None, :]).clamp_min(0)
        batch["tec"] = p.tec[win][..., ::stride, ::stride].contiguous().to(device)
        batch["tec_grad"] = p.tec_grad[uniq][..., ::stride, ::stride].contiguous().to(device)
    return batch


def _held_parts(cfg: IonofieldConfig, p: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """(held-out mask, is-test mask): held blocks alternate between validation and test."""
    from ionofield.data import holdout_mask

    d = cfg.data
    held = holdout_mask(p.time_s.numpy(), p.t0_s, d.holdout_block_h, d.holdout_every)
    block = np.floor((p.time_s.numpy() - p.t0_s) / (3600.0 * d.holdout_block_h)).astype(np.int64)
    is_test = held & (np.floor_divide(block, max(d.holdout_every, 1)) % 2 == 1)
    return held, is_test


def split_indices(cfg: IonofieldConfig, p: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) observation indices.

    Every ``holdout_every``-th time block is held out; held blocks alternate between the
    validation split (chooses best.pt) and the test split (:func:`test_indices`, what
    ``evaluate`` reports), so the reported numbers never select a checkpoint.
    """
    held, is_test = _held_parts(cfg, p)
    return np.flatnonzero(~held), np.flatnonzero(held & ~is_test)


def test_indices(cfg: IonofieldConfig, p: Prepared) -> np.ndarray:
    """Indices of the test split: held-out blocks never used for training or validation."""
    _, is_test = _held_parts(cfg, p)
    return np.flatnonzero(is_test)


def load_prepared(
    cfg: IonofieldConfig, scenario_dir: str | Path, dtype: torch.dtype = torch.float32
) -> tuple[Prepared, tuple]:
    """Read a scenario folder and prepare it with the config's IRI grid."""
    from ionofield.data import load_scenario

    prep = prepare(cfg, load_scenario(scenario_dir), IRIBackground(cfg.iri), dtype)
    return prep, split_indices(cfg, prep)
