"""ionofield profile bench: log10 Ne error against each real COSMIC-2 ionPrf profile.

No GIM of the profiles' days is in the shared data, so ionofield here is the column field
fitted (point operator, log10 Ne) to the *other* profiles, leave one profile out, 3 seeds;
IRI is computed for each profile's own time and F10.7. Writes results/ionofield/profiles.json.

    OMP_NUM_THREADS=1 .venv/bin/python bench/ionofield_profiles.py
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import torch

from common.results import Table, mean_sd, write_result
from ionofield import ro
from ionofield.config import IRIConfig

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ionofield"


def main() -> None:
    torch.set_num_threads(1)
    files = sorted(DATA.glob("ionPrf_*.nc"))
    cfg, seeds = IRIConfig(), [0, 1, 2]
    table = ro.ingest(files, cfg)
    inputs = ro.point_inputs(table, cfg)
    rows, raw = [], {}
    for k, path in enumerate(files):
        held = table["profile_id"] == k
        preds = [ro.predict_points(ro.fit_points(inputs, np.flatnonzero(~held), seed=s), inputs)
                 for s in seeds]  # fmt: skip
        errs = [ro.profile_errors(table, p)[k] for p in preds]
        m, s = mean_sd([e["model_rmse"] for e in errs])
        when = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=errs[0]["time_s"])
        rows.append([path.name, f"{when:%Y-%m-%d %H:%M}", str(errs[0]["n"]),
                     f"{errs[0]['iri_rmse']:.3f}", f"{m:.3f} +- {s:.3f}"])  # fmt: skip
        raw[path.name] = errs
    table_out = Table(
        "profiles",
        ["profile", "time (UTC)", "points", "IRI log10 Ne RMSE", "ionofield log10 Ne RMSE"],
        rows,
        caption="log10 Ne RMSE against each COSMIC-2 profile; ionofield fitted to the other "
        "profiles (leave one out; no GIM of these days), 3 seeds.",
    )
    path = write_result("ionofield", "profiles", tables=[table_out],
                        config={"files": [f.name for f in files]}, seeds=seeds,
                        title="ionofield vs IRI on COSMIC-2 profiles", raw=raw)  # fmt: skip
    for r in rows:
        print(" | ".join(r))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
