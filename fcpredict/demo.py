"""`fcpredict demo`: the whole pipeline on generated data in a few minutes on 2 CPU cores."""

from __future__ import annotations

import json
import time
from pathlib import Path

__all__ = ["run_demo"]


def run_demo(out: Path, steps: int = 200, device: str = "cpu") -> dict:
    """make-data (EMT) -> train (tiny equivariant model) -> predict -> evaluate -> plot.

    Data: 12 strained/rattled/alloyed Cu-Ni-Pd-Ag fcc supercells (32 atoms) labelled with
    ASE's EMT through phonopy displacements (10 train, 2 validation folders) and one held-out
    Cu supercell. Model: the `tiny` preset (8x0e+4x1o+2x2e, 1 block). Writes
    OUT/{data,test,run,pred}/, OUT/metrics.json (with the zero-force-constant baseline and
    the wall time) and OUT/bands_dos.png.
    """
    from common.config import load_config, to_dict
    from common.io import atomic_write
    from common.progress import get_logger
    from fcpredict.apply import phonon_metrics, predict_fc
    from fcpredict.config import PRESETS_DIR, Config
    from fcpredict.data import make_dataset
    from fcpredict.phonopy_io import load_phonopy, make_phonopy, write_prediction
    from fcpredict.plots import plot_bands_dos
    from fcpredict.train import fit, load_model

    t0 = time.perf_counter()
    log = get_logger("fcpredict.demo")
    out.mkdir(parents=True, exist_ok=True)
    log.info("1/5 generating EMT phonopy datasets")
    make_dataset(out / "data", 12, seed=0, elements=["Cu", "Ni", "Pd", "Ag"])
    make_dataset(out / "test", 1, seed=7, elements=["Cu"])
    log.info("2/5 training for %d steps", steps)
    cfg = load_config(
        Config,
        preset="tiny",
        presets_dir=PRESETS_DIR,
        sets=[
            f"data.dirs=[{out / 'data'}]",
            f"train.steps={steps}",
            "train.eval_every=50",
            "train.log_every=10",
            "train.warmup_steps=5",
            "train.lr=0.005",
            "data.max_displacements=2",
        ],
    )
    fit(cfg, out / "run", device=device)
    log.info("3/5 predicting the held-out structure")
    ref = load_phonopy(out / "test" / "s0000")
    ph = make_phonopy(ref.unitcell, ref.supercell_matrix, ref.primitive_matrix)
    model, mcfg = load_model(out / "run" / "checkpoints" / "best.pt")
    fc = predict_fc(model, ph, mcfg.model.cutoff, symmetrize=True)
    write_prediction(
        out / "pred" / "FORCE_CONSTANTS", ph, fc, {"config": to_dict(mcfg), "demo": True}
    )
    log.info("4/5 evaluating")
    pred = load_phonopy(out / "pred")
    metrics = phonon_metrics(pred, ref)
    zero = load_phonopy(out / "pred")
    zero.force_constants = 0 * zero.force_constants
    base = phonon_metrics(zero, ref)
    metrics["zero_baseline_fc_mae_ev_a2"] = base["fc_mae_ev_a2"]
    metrics["zero_baseline_fc_rel_frobenius"] = base["fc_rel_frobenius"]
    metrics["train_steps"] = steps
    log.info("5/5 plotting")
    plot_bands_dos(pred, ref, out / "bands_dos.png", title="held-out EMT Cu: fcpredict vs EMT")
    metrics["wall_time_s"] = round(time.perf_counter() - t0, 1)
    with atomic_write(out / "metrics.json") as fh:
        json.dump(metrics, fh, indent=2)
    return {"out": str(out), **metrics}
