"""``python -m ionofield.nohup``: ionofield's long training runs in the background.

The engine is :mod:`common.nohup` (scripts/ionofield_nohup.sh calls this). Without
``--scenario`` a scenario is simulated first into ``RUN_DIR/scenario`` with the options'
``--preset/--config/--set`` items, in the background job.
"""

from __future__ import annotations

import sys
from pathlib import Path

from common.nohup import NohupSpec, Prepare, config_options, main, option_value


def _prepare(run: Path, options: list[str]) -> tuple[list[Prepare], list[str]]:
    if option_value(options, "--scenario") is not None:
        return [], []
    scenario = run / "scenario"
    simulate = ["simulate", "--out", str(scenario), *config_options(options)]
    return [Prepare(simulate, creates=str(scenario / "scenario.json"))], [
        "--scenario",
        str(scenario),
    ]


SPEC = NohupSpec(
    tool="ionofield",
    default_options=(
        "--cpu-optimized",
        "--steps",
        "20000",
        "--set",
        "train.eval_every=1000",
        "--set",
        "train.ckpt_every=500",
    ),  # fmt: skip
    ready_timeout=3.0,
    prepare=_prepare,
)

if __name__ == "__main__":
    sys.exit(main(SPEC))
