#!/usr/bin/env bash
# Long physx4dct training runs under nohup; works from a fresh clone with the venv NOT activated.
#
#   scripts/physx4dct_nohup.sh start RUN_DIR [physx4dct train options...]
#       returns at once, prints the PID
#   scripts/physx4dct_nohup.sh stop RUN_DIR
#       SIGTERM: last.pt saved, exit 143
#   scripts/physx4dct_nohup.sh resume RUN_DIR [extra options...]
#       the stored options + --resume
#   scripts/physx4dct_nohup.sh status RUN_DIR
#       training or not, the log's tail
#   scripts/physx4dct_nohup.sh finish RUN_DIR
#       scores.json and figures/ of the run
#   Default options: --preset cpu. Without --data, the breathing phantom (irregular trace,
#   drift 0.1) is simulated first into RUN_DIR/scan.pickle with the run's preset.
#
# The log RUN_DIR/train.log is appended to, never overwritten; the options are kept in
# RUN_DIR/nohup.json. Environment: NPROC=N runs N processes through common.launch (torchrun
# with a clean stop), THREADS=N torch threads per process (default 1), PY=/path/to/python.
# Details: docs/long-runs.md; the defaults: physx4dct/nohup.py.
set -euo pipefail
TOOL=physx4dct
# shellcheck source=scripts/nohup_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/nohup_lib.sh"
