"""``python -m fcpredict.nohup``: fcpredict's long training runs in the background.

The engine is :mod:`common.nohup` (scripts/fcpredict_nohup.sh calls this). Without ``--data``
EMT training data are generated first into ``RUN_DIR/data`` (``fcpredict make-data``,
env ``DATA_N`` structures, default 200, supercell ``DATA_DIM``, default 2).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from common.nohup import NohupSpec, Prepare, main, option_value


def _prepare(run: Path, options: list[str]) -> tuple[list[Prepare], list[str]]:
    if option_value(options, "--data") is not None:
        return [], []
    data = run / "data"
    n, dim = os.environ.get("DATA_N", "200"), os.environ.get("DATA_DIM", "2")
    make = Prepare(["make-data", str(data), "--n", n, "--dim", dim], creates=str(data))
    return [make], ["--data", str(data)]


SPEC = NohupSpec(
    tool="fcpredict",
    default_options=("--preset", "cpu", "--steps", "20000", "--set", "train.eval_every=200"),
    ready_marker="inputs checked",
    prepare=_prepare,
)

if __name__ == "__main__":
    sys.exit(main(SPEC))
