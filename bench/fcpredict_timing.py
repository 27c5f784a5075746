"""Hessian timing on Si supercells (64 and 216 atoms) -> results/fcpredict/hessian_timing.json.

For each model (the untrained cpu-preset equiformer and SevenNet-0, float32, one thread):

* naive: all 3N Hessian rows with the autograd loop, measured in full (never extrapolated);
* fcpredict primitive rows (3 n_prim = 6 for Si, phonopy-free translation expansion) with each
  exact path: loop (reverse-over-reverse), vmap (torch.func over vjp), fwd (forward-over-
  reverse jvp); ``method='auto'`` uses the one this table shows fastest (loop);
* phonopy finite displacements with the same model's forces (Si needs one displacement).

Times are CPU seconds of this process (``time.process_time``): the machine is shared, so wall
time mostly measures the other jobs; wall seconds are stored in ``raw`` too. ``--max-naive``
skips the naive loop above that many atoms (cost on a shared machine); skipped cells say "not
run". ``--naive-part i/n`` times only the i-th of n equal blocks of the naive loop's rows (each
block pays its own forward and first backward, so the summed parts slightly overstate the single
loop); the table shows the naive loop once all n blocks are cached, as the sum of their CPU
seconds: every row is computed, nothing is extrapolated.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fcpredict.apply import finite_displacement_fc, supercell_graph
from fcpredict.hessian import force_constants, hessian_rows
from fcpredict.phonopy_io import make_phonopy


def si_phonopy(dim: int) -> Any:
    """Diamond Si, conventional 8-atom cell, dim x dim x dim supercell, fcc primitive."""
    from phonopy.structure.atoms import PhonopyAtoms

    frac = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    frac = np.vstack([frac, frac + 0.25])
    unit = PhonopyAtoms(symbols=["Si"] * 8, cell=np.eye(3) * 5.43, scaled_positions=frac)
    return make_phonopy(unit, [dim] * 3, "F")


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    t, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.process_time() - c, time.perf_counter() - t


CACHE = Path(__file__).resolve().parents[1] / "runs" / "bench" / "fcpredict" / "timing.jsonl"
PATHS = ("loop", "vmap", "fwd")
MEM_LIMIT_GB: float | None = None  # address-space limit of this process (--mem-limit-gb)


def _models(names: list[str]) -> dict[str, tuple[torch.nn.Module, float]]:
    from common.config import load_config
    from fcpredict.backbones import load_backbone
    from fcpredict.config import PRESETS_DIR, Config
    from fcpredict.model import build_model

    out = {}
    if "equiformer" in names:
        cfg = load_config(Config, preset="cpu", presets_dir=PRESETS_DIR)
        torch.manual_seed(0)
        out["equiformer (cpu preset)"] = (build_model(cfg.model).float().eval(), cfg.model.cutoff)
    if "sevennet" in names:
        out["SevenNet-0"] = (load_backbone("sevennet-0", dtype=torch.float32), 5.0)
    return out


def _one(
    model: torch.nn.Module, cutoff: float, dim: int, naive: bool, paths: tuple[str, ...]
) -> dict[str, Any]:
    """Timings of the paths on the dim^3 Si supercell ('loop' must come first)."""
    ph = si_phonopy(dim)
    n = len(ph.supercell)
    g = supercell_graph(ph, cutoff, torch.float32, torch.device("cpu"))
    rec: dict[str, Any] = {"atoms": n, "edges": int(g.edge_index.shape[1])}
    ref = None
    for path in paths:
        try:
            fc, cpu, wall = _timed(force_constants, model, g, ph, compact=True, method=path)
        except (MemoryError, RuntimeError) as exc:  # torch raises RuntimeError on failed allocs
            if not isinstance(exc, MemoryError) and "alloc" not in str(exc).lower():
                raise
            rec[path] = {"error": "out of memory", "limit_gb": MEM_LIMIT_GB}
            continue
        ref = fc if ref is None else ref
        rec[path] = {"cpu_s": cpu, "wall_s": wall, "max_diff": float(np.abs(fc - ref).max())}
    fd, cpu, wall = _timed(finite_displacement_fc, model, ph, cutoff)
    rec["phonopy_fd"] = {"cpu_s": cpu, "wall_s": wall, "max_diff": float(np.abs(fd - ref).max())}
    rec["naive"] = None
    if naive:
        _, cpu, wall = _timed(hessian_rows, model, g, list(range(n)), method="loop")
        rec["naive"] = {"cpu_s": cpu, "wall_s": wall, "rows": 3 * n}
    return rec


def _naive_part(model: torch.nn.Module, cutoff: float, dim: int, part: str) -> dict[str, Any]:
    """CPU time of block i of n of the naive loop's rows (``part`` = 'i/n', i from 0)."""
    i, n_parts = map(int, part.split("/"))
    ph = si_phonopy(dim)
    n = len(ph.supercell)
    g = supercell_graph(ph, cutoff, torch.float32, torch.device("cpu"))
    atoms = list(range(n))[i * n // n_parts : (i + 1) * n // n_parts]
    _, cpu, wall = _timed(hessian_rows, model, g, atoms, method="loop")
    return {"atoms": n, "naive_part": {"part": i, "of": n_parts, "cpu_s": cpu, "wall_s": wall,
            "rows": 3 * len(atoms)}}  # fmt: skip


def _merge(records: dict, rec: dict[str, Any]) -> None:
    """Later runs add/replace paths; naive blocks add up to the naive loop once complete."""
    key = (rec["model"], rec["atoms"])
    old = records.get(key, {})
    new = {**old, **{k: v for k, v in rec.items() if v is not None and k != "naive_part"}}
    if "naive_part" in rec:
        part = rec["naive_part"]
        parts = {p["part"]: p for p in old.get("naive_parts", []) if p["of"] == part["of"]}
        parts[part["part"]] = part
        new["naive_parts"] = [parts[k] for k in sorted(parts)]
        if len(parts) == part["of"]:
            new["naive"] = {
                "cpu_s": sum(p["cpu_s"] for p in parts.values()),
                "wall_s": sum(p["wall_s"] for p in parts.values()),
                "rows": sum(p["rows"] for p in parts.values()),
                "blocks": part["of"],
            }
    records[key] = new


def _table_rows(records: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for rec in records:
        name = rec["model"]
        t_naive = rec["naive"]["cpu_s"] if rec.get("naive") else None
        for path in (*PATHS, "phonopy_fd"):
            if path not in rec:
                rows.append([name, rec["atoms"], path, "not run", "", "", ""])
                continue
            if "error" in rec[path]:
                limit = rec[path].get("limit_gb")
                what = f"{rec[path]['error']} at {limit:g} GB" if limit else rec[path]["error"]
                rows.append([name, rec["atoms"], path, what, "", "", ""])
                continue
            c = rec[path]["cpu_s"]
            speed = round(t_naive / c, 1) if t_naive else ""
            diff = f"{rec[path]['max_diff']:.1e}"
            naive_s = round(t_naive, 1) if t_naive else "not run"
            rows.append([name, rec["atoms"], path, round(c, 2), naive_s, speed, diff])
    return rows


def main() -> None:
    """Run the timing bench (records cached in runs/), then write its JSON from the cache."""
    from common.results import Table, write_result

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="equiformer,sevennet")
    ap.add_argument("--dims", default="2,3", help="supercells: 2 -> 64 atoms, 3 -> 216")
    ap.add_argument("--paths", default="loop,vmap,fwd", help="exact paths (loop first)")
    ap.add_argument("--max-naive", type=int, default=216, help="naive loop up to N atoms")
    ap.add_argument("--naive-part", default="", help="i/n: time only block i of the naive loop")
    ap.add_argument("--collect-only", action="store_true")
    ap.add_argument("--mem-limit-gb", type=float, default=None, help="address-space limit")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.mem_limit_gb:
        import resource

        global MEM_LIMIT_GB
        MEM_LIMIT_GB = args.mem_limit_gb
        limit = int(args.mem_limit_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if not args.collect_only:
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        for name, (model, cutoff) in _models(args.models.split(",")).items():
            for dim in map(int, args.dims.split(",")):
                naive = 8 * dim**3 <= args.max_naive
                if args.naive_part:
                    rec = {"model": name, **_naive_part(model, cutoff, dim, args.naive_part)}
                else:
                    paths = tuple(p for p in args.paths.split(",") if p)
                    rec = {"model": name, **_one(model, cutoff, dim, naive, paths)}
                with CACHE.open("a") as fh:
                    fh.write(json.dumps(rec) + "\n")
                print(rec, flush=True)
    records: dict = {}
    for line in CACHE.read_text().splitlines():
        _merge(records, json.loads(line))
    cols = ["model", "atoms", "path", "CPU s (6 primitive rows / FD)", "naive 3N loop CPU s",
            "speed-up vs naive", "max |diff| vs loop (eV/A^2)"]  # fmt: skip
    table = Table(
        "timing", cols, _table_rows(list(records.values())),
        "Force constants of Si supercells, one thread, CPU seconds of the process (the "
        "machine was shared, wall time is in raw). Exact paths agree to round-off; phonopy "
        "finite displacements (0.01 A, one one-sided displacement for Si) carry an O(h) "
        "anharmonic error (largest for SevenNet-0, whose energy is far from harmonic on that "
        "scale, vs the untrained equiformer). SevenNet-0's 216-atom naive loop was timed in "
        "two blocks of 324 rows (--naive-part; every row computed, the blocks' CPU seconds "
        "summed). 'out of memory at N GB': the path failed to allocate under an N GB "
        "address-space limit (--mem-limit-gb; the machine has 24 GB): SevenNet-0's "
        "forward-over-reverse path at 216 atoms, which therefore has no time.",
    )  # fmt: skip
    path = write_result(
        "fcpredict", "hessian_timing", tables=[table], config={"threads": 1, "dtype": "float32"},
        seeds=[0], title="Hessian paths: timing on 64 and 216 atoms",
        raw={"records": list(records.values())},
    )  # fmt: skip
    print(path)


if __name__ == "__main__":
    main()
