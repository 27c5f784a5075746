"""``python -m nrfix.nohup``: nrfix's long training runs in the background (scripts/nrfix_nohup.sh).

The engine is :mod:`common.nohup`; this only says nrfix's defaults: ``--preset cpu``, and the
log line ``inputs checked`` that ``train`` writes once options, config and data passed.
"""

from __future__ import annotations

import sys

from common.nohup import NohupSpec, main

SPEC = NohupSpec(tool="nrfix", default_options=("--preset", "cpu"), ready_marker="inputs checked")

if __name__ == "__main__":
    sys.exit(main(SPEC))
