"""Within one material: K DFT snapshots -> force constants -> results/fcpredict/kshot.json.

NaCl-rd holds 10 DFT supercells (64 atoms) with random displacements of 0.03 A. For K = 1, 2,
5 snapshots drawn at random (3 draws = seeds 0, 1, 2), two ways to force constants:

* phonopy + symfc fitted to the K snapshots (``produce_force_constants(fc_calculator='symfc')``);
* fcpredict: SevenNet-0 fine-tuned on the K snapshots' DFT forces (``fcpredict.finetune`` with
  the force loss only, no Hessian target, ``STEPS`` steps, no validation set: the last
  weights), then its exact Hessian rows.

Both are scored against the DFT force constants of the NaCl finite-displacement set (same
supercell, independent DFT calculations) with the LOMO bench's scoring (symmetrised, 8x8x8
mesh). SevenNet-0 zero-shot (K = 0) is the starting point. Rows are cached in
runs/bench/fcpredict/kshot_rows.jsonl; ``--collect`` writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fcpredict_lomo import SHARED, _score  # noqa: E402

from fcpredict.apply import predict_fc  # noqa: E402
from fcpredict.phonopy_io import load_phonopy  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "runs" / "bench" / "fcpredict" / "kshot_rows.jsonl"
KS = [1, 2, 5]
SEEDS = [0, 1, 2]
STEPS = 20
FT = dict(steps=STEPS, materials_per_step=1, lr=1e-4, w_hessian=0.0, w_forces=1.0, l2sp=1e-3,
          force_every=1, fold_min_atoms=0)  # fmt: skip


def _draw(k: int, seed: int, n: int = 10) -> list[int]:
    return sorted(np.random.default_rng(seed).permutation(n)[:k].tolist())


def _record(row: dict[str, Any]) -> None:
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with CACHE.open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def symfc_fc(idx: list[int]) -> np.ndarray:
    """phonopy + symfc force constants from the snapshots ``idx`` of NaCl-rd."""
    ph = load_phonopy(SHARED / "NaCl-rd", produce_fc=False)
    ds = ph.dataset
    ph.dataset = {
        "displacements": np.asarray(ds["displacements"])[idx],
        "forces": np.asarray(ds["forces"])[idx],
    }
    ph.produce_force_constants(fc_calculator="symfc", show_drift=False)
    return np.asarray(ph.force_constants)


def finetuned_fc(idx: list[int], seed: int) -> np.ndarray:
    """SevenNet-0 fine-tuned on the DFT forces of the snapshots ``idx``; exact Hessian rows."""
    from fcpredict.finetune import FinetuneConfig, Material, finetune, load_material

    full = load_material(SHARED / "NaCl-rd", 5.0, torch.float32)
    mat = Material("NaCl-rd", full.graph, None, full.p2s, [full.displaced[i] for i in idx])
    model, _ = finetune([mat], [], FinetuneConfig(seed=seed, **FT))
    ph = load_phonopy(SHARED / "NaCl-rd", produce_fc=False)
    return predict_fc(model, ph, model.cutoff)


def run(ks: list[int], seeds: list[int], methods: list[str]) -> None:
    """Compute and cache the rows."""
    ref = load_phonopy(SHARED / "NaCl")
    if "zero-shot" in methods:
        from fcpredict.backbones import load_backbone

        model = load_backbone("sevennet-0", dtype=torch.float32)
        t, c = time.time(), time.process_time()
        fc = predict_fc(model, load_phonopy(SHARED / "NaCl-rd", produce_fc=False), 5.0)
        cost = {"cpu_s": time.process_time() - c, "wall_s": time.time() - t}
        _record({"k": 0, "method": "SevenNet-0 zero-shot", **_score("NaCl", fc, ref), **cost})
    for seed in seeds:
        for k in ks:
            idx = _draw(k, seed)
            for name in ("phonopy+symfc", "fcpredict finetune"):
                if name not in methods:
                    continue
                t, c = time.time(), time.process_time()
                fc = symfc_fc(idx) if name == "phonopy+symfc" else finetuned_fc(idx, seed)
                cost = {"cpu_s": time.process_time() - c, "wall_s": time.time() - t}
                row = {"k": k, "method": name, "seed": seed, "snapshots": idx}
                _record({**row, **_score("NaCl", fc, ref), **cost})


def collect() -> Path:
    """results/fcpredict/kshot.json from the row cache (mean +- sd over the draws)."""
    from common.results import Table, mean_sd, write_result

    rows = [json.loads(x) for x in CACHE.read_text().splitlines() if x.strip()]
    last: dict[tuple, dict] = {}
    for r in rows:
        last[(r["k"], r["method"], r.get("seed"))] = r
    groups: dict[tuple, list[dict]] = {}
    for (k, m, _), r in sorted(last.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        groups.setdefault((k, m), []).append(r)

    def fmt(vals: list[float], d: int = 3) -> str:
        if len(vals) == 1:
            return f"{vals[0]:.{d}f}"
        m, sd = mean_sd(vals)
        return f"{m:.{d}f} +- {sd:.{d}f}"

    out = []
    for (k, m), rs in groups.items():
        v = lambda key, rs=rs: [float(r[key]) for r in rs]  # noqa: E731
        out.append([k, m, len(rs), fmt(v("freq_mae_mesh_thz")), fmt(v("fc_rel_frobenius")),
                    fmt(v("max_freq_rel_err")), fmt(v("cpu_s"), 1)])  # fmt: skip
    cols = ["K snapshots", "method", "draws", "freq MAE (THz)", "rel. Frobenius",
            "max-freq rel. err", "CPU s"]  # fmt: skip
    table = Table(
        "kshot", cols, out,
        f"NaCl, K random-displacement DFT snapshots (0.03 A, 64-atom supercell) -> force "
        f"constants, scored against the DFT finite-displacement force constants (8x8x8 mesh); "
        f"mean +- sd over 3 random draws of the K snapshots. fcpredict finetune: SevenNet-0, "
        f"force loss on the K snapshots, {STEPS} steps, exact Hessian rows.",
    )  # fmt: skip
    return write_result(
        "fcpredict", "kshot", tables=[table], config={"finetune": FT, "ks": KS, "threads": 1},
        seeds=SEEDS, title="fcpredict vs phonopy+symfc from K DFT snapshots (NaCl)",
        raw={"rows": list(last.values())},
    )  # fmt: skip


def main() -> None:
    """CLI of the bench (see module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", default="1,2,5")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--methods", default="zero-shot,phonopy+symfc,fcpredict finetune")
    ap.add_argument("--collect", action="store_true")
    ap.add_argument("--no-run", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not args.no_run:
        run([int(k) for k in args.ks.split(",")], [int(s) for s in args.seeds.split(",")],
            args.methods.split(","))  # fmt: skip
    if args.collect:
        print(collect())


if __name__ == "__main__":
    main()
