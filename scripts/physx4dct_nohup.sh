#!/usr/bin/env bash
# Long physx4dct run under nohup: simulate the cpu-preset breathing phantom (irregular trace),
# reconstruct it with the 4D Gaussian model, then score and plot. Run from the repository root
# after `make install`:   bash scripts/physx4dct_nohup.sh
# Follow the log with:    tail -f runs/physx4dct_long/train.log
# If it stops (machine reboot, kill), continue exactly where it left off with:
#   RESUME=1 bash scripts/physx4dct_nohup.sh
set -euo pipefail

RUN=${RUN:-runs/physx4dct_long}
PRESET=${PRESET:-cpu}
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
mkdir -p "$RUN"

if [ ! -f "$RUN/scan.pickle" ]; then
  "$PY" -m physx4dct phantom --preset "$PRESET" --trace irregular --drift 0.1 \
    --out "$RUN/scan.pickle"
fi

RESUME_FLAG=""
if [ "${RESUME:-0}" = "1" ]; then RESUME_FLAG="--resume"; fi

# The training writes $RUN/train/{config.yaml,metrics.jsonl,checkpoints/{last,best}.pt};
# SIGTERM/SIGINT save last.pt before exiting.
nohup "$PY" -m physx4dct train --data "$RUN/scan.pickle" --run-dir "$RUN/train" \
  --preset "$PRESET" --fusion-mode hexplane $RESUME_FLAG > "$RUN/train.log" 2>&1 &
PID=$!
echo "training in the background: pid $PID, log $RUN/train.log"
echo "resume after an interruption with: RESUME=1 bash scripts/physx4dct_nohup.sh"
wait $PID

"$PY" -m physx4dct evaluate --data "$RUN/scan.pickle" \
  --checkpoint "$RUN/train/checkpoints/last.pt" --out "$RUN/scores.json" >> "$RUN/train.log"
"$PY" -m physx4dct plot --data "$RUN/scan.pickle" \
  --checkpoint "$RUN/train/checkpoints/last.pt" --out "$RUN/figures" >> "$RUN/train.log"
echo "done: $RUN/scores.json, $RUN/figures/"
