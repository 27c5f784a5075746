"""Radio-occultation profiles (COSMIC-2 ``ionPrf``) as observations of any date.

Each file becomes rows of an observation table (``lat``, ``lon``, ``alt_km``, ``time_s``,
``log10_ne``, ``source`` = 1, ``profile_id`` = file index) plus, computed for the profile's
own time: IRI log10 Ne at every point (``log10_ne_iri``, cube of that day and its F10.7),
``kp`` and ``f107`` from the offline space-weather record. No date check against any map:
a profile of any day is usable.

Points outside the field's altitude range (the IRI grid, 80-1000 km by default) are dropped:
below it an ionPrf retrieval holds Abel-inversion artefacts (e.g. 1e10 m^-3 at 36 km) and
IRI would only be its clamped 80-km value there, so neither side of a comparison is real.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ionofield import swx
from ionofield.config import IRIConfig
from ionofield.data import read_ionprf, write_observations
from ionofield.errors import IonofieldError
from ionofield.iri import IRIBackground

if TYPE_CHECKING:
    from ionofield.gimfit import ColumnNet


def ingest(paths: Sequence[str | Path], iri_cfg: IRIConfig) -> dict[str, np.ndarray]:
    """Observation table of the profiles in ``paths`` with IRI and drivers at their times."""
    if not paths:
        raise IonofieldError("ingest-ro needs at least one ionPrf file")
    parts = []
    for k, p in enumerate(paths):
        prof = read_ionprf(p)
        inside = (prof["alt_km"] >= iri_cfg.alt_min_km) & (prof["alt_km"] <= iri_cfg.alt_max_km)
        if not inside.any():
            raise IonofieldError(
                f"{p}: no point inside the field's altitudes "
                f"({iri_cfg.alt_min_km:g}-{iri_cfg.alt_max_km:g} km)"
            )
        prof = {key: v[inside] for key, v in prof.items()}
        prof["profile_id"] = np.full(prof["lat"].size, k, np.int32)
        parts.append(prof)
    table = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    bg = IRIBackground(iri_cfg)
    table["log10_ne_iri"] = bg.log10_ne(
        table["lat"], table["lon"], table["alt_km"], table["time_s"]
    )
    table["kp"] = swx.kp_at(table["time_s"])
    table["f107"] = swx.f107_at(table["time_s"])
    return table


def write(out: str | Path, table: dict[str, np.ndarray], paths: Sequence[str | Path]) -> None:
    """Write the table (HDF5, group ``observations``) with the source files in its meta."""
    write_observations(out, table, {"kind": "radio occultation", "files": [str(p) for p in paths]})


def profile_errors(table: dict[str, np.ndarray], pred_log10: np.ndarray) -> list[dict]:
    """Per profile: RMSE and bias of ``pred_log10`` vs observed log10 Ne, and the same for IRI."""
    out = []
    for k in np.unique(table["profile_id"]):
        m = table["profile_id"] == k
        obs = table["log10_ne"][m]
        row = {"profile_id": int(k), "n": int(m.sum()), "time_s": float(table["time_s"][m][0])}
        for name, pred in (("model", pred_log10[m]), ("iri", table["log10_ne_iri"][m])):
            row[f"{name}_rmse"] = float(np.sqrt(np.mean((pred - obs) ** 2)))
            row[f"{name}_bias"] = float(np.mean(pred - obs))
        out.append(row)
    return out


def point_inputs(table: dict[str, np.ndarray], iri_cfg: IRIConfig) -> dict:
    """Tensors of the point operator: physical inputs, IRI log10 Ne and tanh((h - hmF2)/200)."""
    import torch

    from ionofield import geometry
    from ionofield.gimfit import SHAPE_SCALE_KM

    _, hmf2 = IRIBackground(iri_cfg).f2_peak(table["lat"], table["lon"], table["time_s"])
    f = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    return {
        "feats": f(geometry.features(table["lat"], table["lon"], table["time_s"])),
        "iri": f(table["log10_ne_iri"]),
        "shape": f(np.tanh((table["alt_km"] - hmf2) / SHAPE_SCALE_KM)),
        "y": f(table["log10_ne"]),
    }


def predict_points(net: ColumnNet, inputs: dict) -> np.ndarray:
    """log10 Ne [m^-3] of the fitted field at every point of ``inputs``."""
    import torch

    with torch.no_grad():
        a, b, _ = net(inputs["feats"], torch.zeros(inputs["iri"].shape[0], 0))
        return (inputs["iri"] + a + b * inputs["shape"]).numpy().astype(float)
