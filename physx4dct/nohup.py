"""``python -m physx4dct.nohup``: physx4dct's long training runs in the background.

The engine is :mod:`common.nohup` (scripts/physx4dct_nohup.sh calls this). Without ``--data``
the breathing phantom (irregular trace, drift 0.1) is simulated first into
``RUN_DIR/scan.pickle`` with the run's preset (default ``cpu``). ``finish RUN_DIR`` scores the
finished run (``RUN_DIR/scores.json``) and draws its figures (``RUN_DIR/figures/``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from common.nohup import NohupSpec, Prepare, main, option_value


def _prepare(run: Path, options: list[str]) -> tuple[list[Prepare], list[str]]:
    added = [] if option_value(options, "--preset") else ["--preset", "cpu"]
    if option_value(options, "--data") is not None:
        return [], added
    scan = run / "scan.pickle"
    preset = option_value(options, "--preset") or "cpu"
    phantom = ["phantom", "--preset", preset, "--trace", "irregular", "--drift", "0.1"]
    return [Prepare([*phantom, "--out", str(scan)], creates=str(scan))], [
        *added,
        "--data",
        str(scan),
    ]


def _finish(run: Path, options: list[str]) -> list[list[str]]:
    data = option_value(options, "--data")
    ckpt = run / "checkpoints" / "best.pt"
    if not ckpt.is_file():
        ckpt = run / "checkpoints" / "last.pt"
    scores = ["evaluate", "--data", str(data), "--checkpoint", str(ckpt)]
    figures = ["plot", "--data", str(data), "--checkpoint", str(ckpt)]
    return [[*scores, "--out", str(run / "scores.json")], [*figures, "--out", str(run / "figures")]]


SPEC = NohupSpec(
    tool="physx4dct",
    default_options=("--preset", "cpu"),
    ready_timeout=3.0,
    prepare=_prepare,
    finish=_finish,
)

if __name__ == "__main__":
    sys.exit(main(SPEC))
