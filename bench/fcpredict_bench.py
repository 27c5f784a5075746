"""fcpredict benchmark, side by side in one run; writes runs/bench/fcpredict/{bench.json,bench.md}.

(i)   Hessian speed on 64- and 216-atom supercells: naive loop over all 3N rows vs fcpredict
      (3 n_prim rows batched with torch.func, expanded by phonopy symmetry). The naive loop is
      timed on --naive-rows rows and extrapolated linearly to 3N (stated in the table).
(ii)  Leave-one-material-out accuracy on ../shared/data/fcpredict/phonopy: zero baseline,
      nearest-neighbour spring baseline (one k fitted on the training materials), the
      non-equivariant GraphTransformer, and fcpredict (same steps): MAE (eV/A^2), relative
      Frobenius error, frequency MAE on an 8x8x8 mesh (THz).
(iii) Time to full force constants of a 256-atom Cu supercell: fcpredict vs phonopy + EMT.

Usage: python bench/fcpredict_bench.py [--steps 200] [--materials NaCl,MgO] [--naive-rows 24]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from fcpredict.apply import phonon_metrics, predict_fc, supercell_graph
from fcpredict.config import ModelConfig
from fcpredict.hessian import force_constants, hessian_rows
from fcpredict.model import build_model
from fcpredict.phonopy_io import load_phonopy, make_phonopy

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "fcpredict" / "phonopy"
OUT = Path(__file__).resolve().parents[1] / "runs" / "bench" / "fcpredict"
CPU_MODEL = ModelConfig(
    irreps_node_embedding="32x0e+8x1o+4x2e",
    num_layers=2,
    num_heads=4,
    num_rbf=16,
    radial_hidden=32,
    cutoff=4.5,
)


def _si_phonopy(dim: int):
    from phonopy.structure.atoms import PhonopyAtoms

    a = 5.43
    frac = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    frac = np.vstack([frac, frac + 0.25])
    unit = PhonopyAtoms(symbols=["Si"] * 8, cell=np.eye(3) * a, scaled_positions=frac)
    return make_phonopy(unit, [dim] * 3, "F")


def bench_speed(naive_rows: int) -> list[dict]:
    torch.manual_seed(0)
    model = build_model(CPU_MODEL).eval()
    rows = []
    for dim in (1, 2):  # 8 x 8 = 64 atoms, 8 x 27 = 216 atoms (conventional Si)
        ph = _si_phonopy(2 if dim == 1 else 3)
        g = supercell_graph(ph, CPU_MODEL.cutoff, torch.float32, torch.device("cpu"))
        n = len(ph.supercell)
        t = time.perf_counter()
        fc = force_constants(model, g, ph, mode="primitive", compact=False)
        t_fast = time.perf_counter() - t
        k = min(naive_rows, 3 * n)
        t = time.perf_counter()
        hessian_rows(model, g, list(range(int(np.ceil(k / 3)))), method="loop")
        t_naive = (time.perf_counter() - t) * (3 * n) / (3 * int(np.ceil(k / 3)))
        rows.append(
            {
                "atoms": n,
                "naive_3N_loop_s": t_naive,
                "fcpredict_s": t_fast,
                "speedup": t_naive / t_fast,
                "naive_rows_timed": 3 * int(np.ceil(k / 3)),
                "fc_shape": list(fc.shape),
            }
        )
        print(rows[-1], flush=True)
    return rows


def _nn_basis(ph) -> np.ndarray:
    """Compact fc of a unit nearest-neighbour central spring model (k = 1 eV/A^2)."""
    from phonopy.structure.cells import get_smallest_vectors

    sc, prim = ph.supercell, ph.primitive
    svecs, multi = get_smallest_vectors(
        sc.cell, sc.scaled_positions, sc.scaled_positions[prim.p2s_map]
    )
    n = len(sc)
    out = np.zeros((len(prim.p2s_map), n, 3, 3))
    for a, i in enumerate(prim.p2s_map):
        vecs = [svecs[multi[j, a, 1]] @ sc.cell for j in range(n)]
        dist = np.array([np.linalg.norm(v) if j != i else np.inf for j, v in enumerate(vecs)])
        for j in np.where(dist < dist.min() * 1.1)[0]:
            e = vecs[j] / dist[j]
            out[a, j] -= np.outer(e, e)
            out[a, i] += np.outer(e, e)
    return out


def _train_eval(kind: str, held: str, materials: list[str], steps: int, run: Path) -> dict:
    from common.checkpoint import load_checkpoint
    from common.config import load_config
    from fcpredict.config import PRESETS_DIR, Config
    from fcpredict.train import fit, load_model

    preset = "cpu" if kind == "equiformer" else "baseline"
    dirs = ",".join(str(SHARED / m) for m in materials if m != held)
    cfg = load_config(
        Config,
        preset=preset,
        presets_dir=PRESETS_DIR,
        sets=[
            f"data.dirs=[{dirs}]",
            f"train.steps={steps}",
            "data.val_fraction=0.0",
            f"train.eval_every={steps}",
            "train.warmup_steps=10",
        ],
    )
    fit(cfg, run, device="cpu")
    model, mcfg = load_model(load_checkpoint(run / "checkpoints" / "last.pt"))
    ref = load_phonopy(SHARED / held)
    ph = load_phonopy(SHARED / held, produce_fc=False)
    ph.force_constants = predict_fc(model, ph, mcfg.model.cutoff, symmetrize=True)
    return phonon_metrics(ph, ref)


def bench_lomo(
    materials: list[str], held_out: list[str], steps: int, rows: list[dict], on_row=lambda: None
) -> list[dict]:
    """Append one row per (held-out material, method) to ``rows``; ``on_row`` after each."""
    refs = {m: load_phonopy(SHARED / m) for m in materials}
    for held in held_out:
        ref = refs[held]
        num = sum(
            float((refs[m].force_constants * _nn_basis(refs[m])).sum())
            for m in materials
            if m != held
        )
        den = sum(float((_nn_basis(refs[m]) ** 2).sum()) for m in materials if m != held)
        k = num / den
        base = {"zero": 0 * ref.force_constants, "nearest-neighbour": k * _nn_basis(ref)}
        for name, fc in base.items():
            ph = load_phonopy(SHARED / held, produce_fc=False)
            ph.force_constants = fc
            rows.append({"held_out": held, "method": name, **phonon_metrics(ph, ref)})
            print(rows[-1], flush=True)
            on_row()
        for kind in ("transformer", "equiformer"):
            m = _train_eval(kind, held, materials, steps, OUT / f"lomo_{held}_{kind}")
            rows.append(
                {
                    "held_out": held,
                    "method": "GraphTransformer (non-equiv.)"
                    if kind == "transformer"
                    else "fcpredict",
                    **m,
                }
            )
            print(rows[-1], flush=True)
            on_row()
    return rows


def bench_vs_phonopy() -> dict:
    from ase import Atoms
    from ase.calculators.emt import EMT
    from phonopy.structure.atoms import PhonopyAtoms

    unit = PhonopyAtoms(
        symbols=["Cu"] * 4,
        cell=np.eye(3) * 3.61,
        scaled_positions=[[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]],
    )
    ph = make_phonopy(unit, [4, 4, 4], "F")
    t = time.perf_counter()
    ph.generate_displacements(distance=0.01)
    forces = []
    for c in ph.supercells_with_displacements:
        at = Atoms(numbers=c.numbers, cell=c.cell, positions=c.positions, pbc=True)
        at.calc = EMT()
        forces.append(at.get_forces())
    ph.forces = np.array(forces)
    ph.produce_force_constants()
    t_phonopy = time.perf_counter() - t
    model = build_model(CPU_MODEL).eval()
    ph2 = make_phonopy(unit, [4, 4, 4], "F")
    t = time.perf_counter()
    predict_fc(model, ph2, CPU_MODEL.cutoff, compact=False)
    t_model = time.perf_counter() - t
    return {
        "atoms": len(ph.supercell),
        "phonopy_plus_emt_s": t_phonopy,
        "fcpredict_s": t_model,
        "displacements": len(ph.supercells_with_displacements),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--materials", default="NaCl,MgO,Si,MgB2,ZnO,SnO2,Cr,CaTiO3")
    p.add_argument("--held-out", default=None, help="Comma list (default: every material).")
    p.add_argument("--naive-rows", type=int, default=24)
    p.add_argument("--skip", default="", help="Comma list of parts to skip: speed,lomo,phonopy")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (1: small graphs, loaded machine)",
    )
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    OUT.mkdir(parents=True, exist_ok=True)
    mats = a.materials.split(",")
    held = a.held_out.split(",") if a.held_out else mats
    skip = set(a.skip.split(","))
    res = {
        "machine": "2 CPU cores (shared, loaded), torch " + torch.__version__,
        "settings": vars(a),
    }
    res["speed"] = [] if "speed" in skip else bench_speed(a.naive_rows)
    _save(res)
    res["vs_phonopy"] = {} if "phonopy" in skip else bench_vs_phonopy()
    print(res["vs_phonopy"], flush=True)
    _save(res)
    res["lomo"] = []
    if "lomo" not in skip:
        bench_lomo(mats, held, a.steps, res["lomo"], lambda: _save(res))
    _save(res)
    print(markdown(res))


def _save(res: dict) -> None:
    """Write bench.json and bench.md (after every part, so partial results survive)."""
    (OUT / "bench.json").write_text(json.dumps(res, indent=2))
    (OUT / "bench.md").write_text(markdown(res))


def markdown(res: dict) -> str:
    lines = [
        "| atoms | naive 3N-row loop (s) | fcpredict rows+symmetry (s) | speed-up |",
        "|---|---|---|---|",
    ]
    for r in res.get("speed", []):
        lines.append(
            f"| {r['atoms']} | {r['naive_3N_loop_s']:.1f} "
            f"(from {r['naive_rows_timed']} rows)"
            f" | {r['fcpredict_s']:.2f} | {r['speedup']:.0f}x |"
        )
    v = res.get("vs_phonopy") or {}
    if v:
        lines += [
            "",
            "| atoms | phonopy + EMT (s) | fcpredict (s) |",
            "|---|---|---|",
            f"| {v['atoms']} | {v['phonopy_plus_emt_s']:.2f} ({v['displacements']} disp.) "
            f"| {v['fcpredict_s']:.2f} |",
        ]
    if res.get("lomo"):
        lines += [
            "",
            "| held out | method | MAE (eV/A^2) | rel. Frobenius | freq. MAE mesh (THz) |"
            " neg. modes pred/ref |",
            "|---|---|---|---|---|---|",
        ]
        for r in res["lomo"]:
            lines.append(
                f"| {r['held_out']} | {r['method']} | {r['fc_mae_ev_a2']:.4f} | "
                f"{r['fc_rel_frobenius']:.3f} | {r['freq_mae_mesh_thz']:.3f} | "
                f"{r['negative_modes_pred']}/{r['negative_modes_ref']} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
