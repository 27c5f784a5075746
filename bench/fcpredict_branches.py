"""Which phonon branches and which bonds a backbone gets wrong -> results/fcpredict/branches.json.

For each material (default NaCl and MgO, the two rock-salt sets) and each model, against the
DFT force constants of the shared set (8x8x8 mesh, symmetrised force constants):

* the mean signed frequency error of each band (bands ordered by frequency at every q point,
  lowest first): negative = too soft;
* the ratio prediction/DFT of the nearest-neighbour pair force constants, split into the
  bond-stretching (longitudinal, e . Phi_ij . e) and the transverse part ((tr - L) / 2), and
  of the on-site blocks tr Phi_ii per element.

Models: the backbones zero-shot (exact Hessian rows on the DFT geometry, float32, cached in
runs/bench/fcpredict/fc/) and the fine-tuned rows of the LOMO bench whose force constants it
saved (``bench/fcpredict_lomo.py``, one file per fold and seed; a row whose validation guard
kept the pretrained weights is the backbone's zero-shot force constants). Diagnostic only:
nothing here is selected on the held-out material.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fcpredict_lomo import CACHE, FC_DIR, SHARED, _grouped, _symmetrized
from fcpredict_softening import _dft, _mesh

from fcpredict.phonopy_io import load_phonopy


def zeroshot_fc(name: str, held: str) -> np.ndarray:
    """Compact zero-shot fc of backbone ``name`` on the DFT supercell of ``held`` (cached)."""
    path = FC_DIR / f"zeroshot_{name}_{held}.npy"
    if not path.is_file():
        from fcpredict.apply import predict_fc
        from fcpredict.backbones import load_backbone

        model = load_backbone(name, dtype=torch.float32)
        fc = predict_fc(model, load_phonopy(SHARED / held, produce_fc=False), model.cutoff)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, fc)
    return np.load(path)


def finetuned_fcs(held: str) -> dict[str, list[np.ndarray]]:
    """{method: [compact fc per seed]} of the LOMO fine-tuned rows of ``held`` with saved fc."""
    out: dict[str, list[np.ndarray]] = {}
    groups = _grouped() if CACHE.is_file() else {}
    for (m, method), rows in sorted(groups.items()):
        if m != held or "+finetune" not in method:
            continue
        fcs = []
        for r in sorted(rows, key=lambda r: r["seed"]):
            path = FC_DIR / f"{method}_{held}_s{r['seed']}.npy"
            if path.is_file():
                fcs.append(np.load(path))
            elif r.get("scored"):  # pretrained weights kept
                fcs.append(zeroshot_fc(method.split("+")[0], held))
        if fcs and len(fcs) == len(rows):  # only methods whose every seed can be reproduced
            out[method] = fcs
    return out


def bonds(ref: Any, fc: np.ndarray) -> tuple[str, float, float, dict[str, float]]:
    """(nearest-neighbour pair label, its longitudinal and transverse force constants averaged
    over the primitive atoms' nearest shells, on-site tr Phi_ii per element)."""
    from phonopy.structure.cells import get_smallest_vectors

    sc, p2s = ref.supercell, ref.primitive.p2s_map
    svecs, multi = get_smallest_vectors(sc.cell, sc.scaled_positions, sc.scaled_positions[p2s])
    longi, trans, pairs, onsite = [], [], set(), {}
    for a, i in enumerate(p2s):
        vecs = np.array([svecs[multi[j, a, 1]] @ sc.cell for j in range(len(sc))])
        dist = np.linalg.norm(vecs, axis=1)
        dist[i] = np.inf
        for j in np.where(dist < dist.min() * 1.05)[0]:
            e = vecs[j] / dist[j]
            lon = float(e @ fc[a, j] @ e)
            longi.append(lon)
            trans.append((float(np.trace(fc[a, j])) - lon) / 2)
            pairs.add("-".join(sorted((sc.symbols[i], sc.symbols[j]))) + f" {dist[j]:.2f} A")
        onsite.setdefault(sc.symbols[i], []).append(float(np.trace(fc[a, i])))
    label = ", ".join(sorted(pairs))
    return (
        label,
        float(np.mean(longi)),
        float(np.mean(trans)),
        {el: float(np.mean(v)) for el, v in onsite.items()},
    )


def rows_for(held: str, backbones: list[str]) -> list[list[Any]]:
    """One row per model of material ``held`` (see the module docstring)."""
    from common.results import mean_sd

    ref = load_phonopy(SHARED / held)
    dft = _dft(ref)
    f_ref = _mesh(held, dft)
    label, l_ref, t_ref, on_ref = bonds(ref, dft)
    models = {b: [zeroshot_fc(b, held)] for b in backbones}
    models.update(finetuned_fcs(held))
    ph = load_phonopy(SHARED / held, produce_fc=False)
    out = []
    for name, fcs in models.items():
        fcs = [_symmetrized(ph, fc) for fc in fcs]
        freqs = [_mesh(held, fc) for fc in fcs]
        maes = [float(np.abs(f - f_ref).mean()) for f in freqs]
        band_err = np.mean([(f - f_ref).mean(axis=0) for f in freqs], axis=0)
        b = [bonds(ref, fc) for fc in fcs]
        mae = f"{maes[0]:.3f}" if len(maes) == 1 else "{:.3f} +- {:.3f}".format(*mean_sd(maes))
        onsite = ", ".join(
            f"{el} {np.mean([x[3][el] for x in b]) / on_ref[el]:.2f}" for el in on_ref
        )
        out.append([held, name, len(fcs), mae,
                    ", ".join(f"{e:+.2f}" for e in band_err),
                    round(float(np.mean([f.max() for f in freqs]) / f_ref.max()), 3), label,
                    round(float(np.mean([x[1] for x in b])) / l_ref, 2),
                    round(float(np.mean([x[2] for x in b])) / t_ref, 2), onsite])  # fmt: skip
    return out


def main() -> None:
    """CLI: --materials NaCl,MgO --backbones sevennet-0,sevennet-l3i5."""
    from common.results import Table, write_result

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--materials", default="NaCl,MgO")
    ap.add_argument("--backbones", default="sevennet-0,sevennet-l3i5")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = [r for m in args.materials.split(",") for r in rows_for(m, args.backbones.split(","))]
    cols = ["material", "model", "seeds", "freq MAE (THz)",
            "mean signed error per band, low to high (THz)", "max-freq ratio",
            "nearest-neighbour pair", "bond-stretch ratio", "transverse ratio",
            "on-site ratio per element"]  # fmt: skip
    table = Table(
        "branches", cols, rows,
        "Where the error sits: mean signed frequency error per band (bands ordered by "
        "frequency at each q point of the 8x8x8 mesh; negative = too soft) and force-constant "
        "ratios prediction/DFT of the nearest-neighbour pair (bond-stretching and transverse "
        "parts) and of the on-site blocks. Fine-tuned: LOMO rows of the held-out material "
        "(bench/fcpredict_lomo.py), averaged over their seeds; +finetune-noval: a diagnostic, "
        "not a method: all seven other materials train (none validates), last weights.",
    )  # fmt: skip
    seeds = list(range(max(r[2] for r in rows)))  # fine-tuned rows: seeds 0 .. k-1
    print(write_result("fcpredict", "branches", tables=[table], seeds=seeds,
                       config={"mesh": [8, 8, 8], "materials": args.materials.split(","),
                               "backbones": args.backbones.split(",")},
                       title="Which branches and bonds the backbones get wrong",
                       raw={"rows": rows}))  # fmt: skip
    print(json.dumps({"fc_dir": str(Path(FC_DIR))}))


if __name__ == "__main__":
    main()
