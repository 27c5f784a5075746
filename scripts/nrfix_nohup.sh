#!/usr/bin/env bash
# Example long nrfix run under nohup (after `make install`).
#   start:   bash scripts/nrfix_nohup.sh
#   watch:   tail -f runs/nrfix_cpu/train.log
#   resume after a stop/crash (same command plus --resume):
#     nohup nrfix train --preset cpu --run-dir runs/nrfix_cpu --data runs/nrfix_data --resume \
#         >> runs/nrfix_cpu/train.log 2>&1 &
set -euo pipefail
RUN=${RUN:-runs/nrfix_cpu}
DATA=${DATA:-runs/nrfix_data}
mkdir -p "$RUN"
[ -d "$DATA" ] || nrfix make-data --preset cpu --out "$DATA"
nohup nrfix train --preset cpu --run-dir "$RUN" --data "$DATA" --device auto \
    >> "$RUN/train.log" 2>&1 &
echo "started PID $! ; log: $RUN/train.log ; checkpoints: $RUN/checkpoints/{last,best}.pt"
