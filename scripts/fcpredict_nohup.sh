#!/usr/bin/env bash
# Long fcpredict training runs under nohup; works from a fresh clone with the venv NOT activated.
#
#   scripts/fcpredict_nohup.sh start RUN_DIR [fcpredict train options...]
#       returns at once, prints the PID
#   scripts/fcpredict_nohup.sh stop RUN_DIR
#       SIGTERM: last.pt saved, exit 143
#   scripts/fcpredict_nohup.sh resume RUN_DIR [extra options...]
#       the stored options + --resume
#   scripts/fcpredict_nohup.sh status RUN_DIR
#       training or not, the log's tail
#   Default options: --preset cpu --steps 20000 --set train.eval_every=200. Without --data,
#   EMT data are generated first into RUN_DIR/data (DATA_N structures, supercell DATA_DIM).
#
# The log RUN_DIR/train.log is appended to, never overwritten; the options are kept in
# RUN_DIR/nohup.json. Environment: NPROC=N runs N processes through common.launch (torchrun
# with a clean stop), THREADS=N torch threads per process (default 1), PY=/path/to/python.
# Details: docs/long-runs.md; the defaults: fcpredict/nohup.py.
set -euo pipefail
TOOL=fcpredict
# shellcheck source=scripts/nohup_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/nohup_lib.sh"
