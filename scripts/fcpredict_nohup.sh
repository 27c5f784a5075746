#!/usr/bin/env bash
# Long fcpredict run under nohup: generate EMT data, train the CPU equivariant model for hours.
# Log: runs/fcpredict_long/train.log ; checkpoints: runs/fcpredict_long/checkpoints/{last,best}.pt
# Continue after a stop (SIGTERM/SIGINT save last.pt):  same command with --resume (see below).
# CPU threads: 1 by default (small graphs; a busy machine makes more threads much slower);
# on an idle machine with large supercells try: export FCPREDICT_THREADS=2
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=runs/fcpredict_long
DATA=runs/fcpredict_data
mkdir -p "$RUN"
[ -d "$DATA" ] || fcpredict make-data "$DATA" --n 200 --seed 0
nohup fcpredict train --preset cpu --data "$DATA" --run-dir "$RUN" \
    --steps 20000 --set train.eval_every=200 > "$RUN/train.log" 2>&1 &
echo "started PID $! ; follow with: tail -f $RUN/train.log"
# resume after an interruption:
#   nohup fcpredict train --preset cpu --data "$DATA" --run-dir "$RUN" --steps 20000 \
#       --set train.eval_every=200 --resume >> "$RUN/train.log" 2>&1 &
# predict a DFT structure afterwards:
#   fcpredict predict ../shared/data/fcpredict/phonopy/NaCl -o "$RUN/NaCl/FORCE_CONSTANTS" \
#       --checkpoint "$RUN/checkpoints/best.pt" --symmetrize
