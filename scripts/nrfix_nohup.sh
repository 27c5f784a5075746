#!/usr/bin/env bash
# Long nrfix training runs under nohup; works from a fresh clone with the venv NOT activated.
#
#   scripts/nrfix_nohup.sh start RUN_DIR [nrfix train options...]
#       returns at once, prints the PID
#   scripts/nrfix_nohup.sh stop RUN_DIR
#       SIGTERM: last.pt saved, exit 143
#   scripts/nrfix_nohup.sh resume RUN_DIR [extra options...]
#       the stored options + --resume
#   scripts/nrfix_nohup.sh status RUN_DIR
#       training or not, the log's tail
#   Default options: --preset cpu.
#
# The log RUN_DIR/train.log is appended to, never overwritten; the options are kept in
# RUN_DIR/nohup.json. Environment: NPROC=N runs N processes through common.launch (torchrun
# with a clean stop), THREADS=N torch threads per process (default 1), PY=/path/to/python.
# Details: docs/long-runs.md; the defaults: nrfix/nohup.py.
set -euo pipefail
TOOL=nrfix
# shellcheck source=scripts/nohup_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/nohup_lib.sh"
