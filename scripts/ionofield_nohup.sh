#!/usr/bin/env bash
# Long ionofield training runs under nohup; works from a fresh clone with the venv NOT activated.
#
#   scripts/ionofield_nohup.sh start RUN_DIR [ionofield train options...]
#       returns at once, prints the PID
#   scripts/ionofield_nohup.sh stop RUN_DIR
#       SIGTERM: last.pt saved, exit 143
#   scripts/ionofield_nohup.sh resume RUN_DIR [extra options...]
#       the stored options + --resume
#   scripts/ionofield_nohup.sh status RUN_DIR
#       training or not, the log's tail
#   Default options: --cpu-optimized --steps 20000 --set train.eval_every=1000
#   --set train.ckpt_every=500. Without --scenario, a scenario is simulated first into
#   RUN_DIR/scenario (with the options' --preset/--config/--set).
#
# The log RUN_DIR/train.log is appended to, never overwritten; the options are kept in
# RUN_DIR/nohup.json. Environment: NPROC=N runs N processes through common.launch (torchrun
# with a clean stop), THREADS=N torch threads per process (default 1), PY=/path/to/python.
# Details: docs/long-runs.md; the defaults: ionofield/nohup.py.
set -euo pipefail
TOOL=ionofield
# shellcheck source=scripts/nohup_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/nohup_lib.sh"
