"""Evaluation and prediction: field at points and on grids, TEC maps from the field, and the
held-out metrics (model vs IRI, quiet vs storm).

The ConvLSTM's TEC-gradient direction maps feed the training loss and the direction figure
only; predictions never read them, so prediction has no TEC-context step to cache.
"""

from __future__ import annotations

import numpy as np
import torch

from ionofield import swx
from ionofield.config import IonofieldConfig
from ionofield.iri import IRIBackground
from ionofield.model import RSTMRF
from ionofield.prepare import TEC_SCALE, Prepared
from ionofield.simulate import IONEX_LAT, IONEX_LON
from ionofield.tec import integrate_tec_tecu


@torch.no_grad()
def direction_maps(
    model: RSTMRF, prep: Prepared, cfg: IonofieldConfig, hours: np.ndarray | torch.Tensor
) -> torch.Tensor:
    """ConvLSTM TEC-gradient direction maps (U, 2, H, W) of the windows ending at ``hours``.

    They serve the training loss and the direction figure only: no prediction reads them.
    """
    n_maps, s = prep.tec.shape[0], cfg.data.tec_stride
    h = torch.as_tensor(np.asarray(hours)).clamp(0, n_maps - 1)
    win = (h[:, None] - torch.arange(cfg.data.tec_seq_len - 1, -1, -1)[None]).clamp_min(0)
    dev = next(model.parameters()).device
    return model.tec_direction(prep.tec[win][..., ::s, ::s].contiguous().to(dev)).cpu()


@torch.no_grad()
def field_at(
    model: RSTMRF,
    coords: torch.Tensor,
    time_s: torch.Tensor,
    seq_len: int,
    batch_size: int = 8192,
    hmf2: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Residual and log-variance at points (drivers from the real record, per hour).

    ``hmf2`` (N,) is the IRI F2 peak height [km] of the points (models with ``hmf2_input``).
    """
    dev = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    res, logv = [], []
    for s in range(0, coords.shape[0], batch_size):
        t = time_s[s : s + batch_size]
        hours = torch.floor(t / 3600.0) * 3600.0
        uniq, inv = torch.unique(hours, return_inverse=True)
        drivers = torch.as_tensor(swx.sequences(uniq.numpy(), seq_len))
        b = {
            "coords": coords[s : s + batch_size].to(dev, dtype),
            "time_s": t.to(dev),
            "drivers": drivers.to(dev),
            "win_idx": inv.to(dev),
            "tec": None,
            "hmf2": None if hmf2 is None else hmf2[s : s + batch_size].to(dev, dtype),
        }
        out = model(b, derivatives=False)
        res.append(out["residual"].cpu())
        logv.append(out["logvar"].cpu())
    return torch.cat(res), torch.cat(logv)


def grid_points(lats: np.ndarray, lons: np.ndarray, alts: np.ndarray) -> np.ndarray:
    """(n_lat*n_lon*n_alt, 3) points ordered (lat, lon, alt) with altitude fastest."""
    la, lo, al = np.meshgrid(lats, lons, alts, indexing="ij")
    return np.stack([la.ravel(), lo.ravel(), al.ravel()], -1)


def predict_grid(
    model: RSTMRF | None,
    background: IRIBackground,
    cfg: IonofieldConfig,
    grid: tuple,
    times_s: np.ndarray,
) -> np.ndarray:
    """log10 Ne (T, n_lat, n_lon, n_alt) of IRI + residual (IRI only when ``model`` is None)."""
    lats, lons, alts = grid
    pts = grid_points(lats, lons, alts)
    out = np.empty((len(times_s), lats.size, lons.size, alts.size))
    for k, t in enumerate(times_s):
        tt = np.full(pts.shape[0], float(t))
        val = background.log10_ne(pts[:, 0], pts[:, 1], pts[:, 2], tt)
        if model is not None:
            _, hm = background.f2_peak(pts[:, 0], pts[:, 1], tt)
            r, _ = field_at(
                model,
                torch.as_tensor(pts, dtype=torch.float32),
                torch.as_tensor(tt),
                cfg.data.seq_len,
                cfg.eval.batch_size,
                torch.as_tensor(hm, dtype=torch.float32),
            )
            val = val + r.double().numpy()
        out[k] = val.reshape(out.shape[1:])
    return out


def field_tec_maps(
    model: RSTMRF | None, background: IRIBackground, cfg: IonofieldConfig, times_s: np.ndarray
) -> np.ndarray:
    """VTEC [TECU] (T, 71, 73): the field integrated over the IRI altitude range plus the
    empirical plasmasphere above it up to GPS altitude (:func:`plasmasphere.pec_maps`).
    """
    from ionofield.plasmasphere import pec_maps

    alts = np.arange(cfg.iri.alt_min_km, cfg.iri.alt_max_km + 0.1, cfg.sim.tec_dalt_km)
    log_ne = predict_grid(model, background, cfg, (IONEX_LAT, IONEX_LON, alts), times_s)
    pec = pec_maps(IONEX_LAT, IONEX_LON, np.atleast_1d(times_s), float(alts[-1]))
    return integrate_tec_tecu(10.0**log_ne, alts, axis=-1) + pec


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    """Root-mean-square difference (NaN when empty)."""
    return float(np.sqrt(np.mean((a - b) ** 2))) if a.size else float("nan")


def point_metrics(
    pred: np.ndarray, bg: np.ndarray, obs: dict, idx: np.ndarray, storm: np.ndarray
) -> dict:
    """RMSE of log10 Ne (model and IRI) per source (in-situ/profile) and quiet/storm hours."""
    y = obs["log10_ne"][idx]
    truth = obs.get("log10_ne_true")
    out: dict = {}
    groups = {
        "all": np.ones(idx.size, bool),
        "insitu": obs["source"][idx] == 0,
        "profile": obs["source"][idx] == 1,
    }
    for gname, g in groups.items():
        for sname, s in (("", np.ones(idx.size, bool)), ("_quiet", ~storm), ("_storm", storm)):
            m = g & s
            out[f"{gname}{sname}"] = {
                "n": int(m.sum()),
                "model": rmse(pred[m], y[m]),
                "iri": rmse(bg[m], y[m]),
            }
            if truth is not None:
                out[f"{gname}{sname}"]["model_vs_truth"] = rmse(pred[m], truth[idx][m])
                out[f"{gname}{sname}"]["iri_vs_truth"] = rmse(bg[m], truth[idx][m])
    return out


def evaluate(
    model: RSTMRF,
    prep: Prepared,
    idx: np.ndarray,
    cfg: IonofieldConfig,
    background: IRIBackground,
    storm_kp: float = 5.0,
) -> dict:
    """Held-out metrics: point RMSEs (model and IRI, quiet vs storm), VTEC RMSE vs the maps."""
    model.eval()
    r, logv = field_at(
        model,
        prep.coords[idx],
        prep.time_s[idx],
        cfg.data.seq_len,
        cfg.eval.batch_size,
        prep.hmf2[idx],
    )
    pred = prep.bg[idx].double().numpy() + r.double().numpy()
    bg = prep.bg[idx].double().numpy()
    storm = swx.kp_at(prep.time_s[idx].numpy()) >= storm_kp
    metrics = {
        "points": point_metrics(pred, bg, prep.obs, idx, storm),
        "mean_predicted_sigma": float(torch.exp(0.5 * logv).mean()),
    }
    hours = np.unique(prep.hour_idx[idx].numpy())
    epochs = prep.t0_s + 3600.0 * hours
    maps_true = prep.tec[torch.as_tensor(hours)].double().numpy() * TEC_SCALE
    metrics["vtec_rmse_model"] = rmse(field_tec_maps(model, background, cfg, epochs), maps_true)
    metrics["vtec_rmse_iri"] = rmse(field_tec_maps(None, background, cfg, epochs), maps_true)
    return metrics


def summary_line(metrics: dict) -> str:
    """One line: log10 Ne RMSE (ionofield vs IRI) against the noisy observations and, for a
    simulated scenario, against the noise-free truth; VTEC RMSE against the TEC maps.
    """
    a = metrics["points"]["all"]

    def part(model: float, iri: float) -> str:
        return f"ionofield {model:.4f} vs IRI {iri:.4f} ({100 * (1 - model / iri):.0f}% lower)"

    text = f"log10 Ne RMSE ({a['n']} obs) vs observations: {part(a['model'], a['iri'])}"
    if "model_vs_truth" in a:
        text += f"; vs simulated truth: {part(a['model_vs_truth'], a['iri_vs_truth'])}"
    return (
        text
        + f"; VTEC RMSE {metrics['vtec_rmse_model']:.2f} vs {metrics['vtec_rmse_iri']:.2f} TECU"
    )
