#!/usr/bin/env bash
# Long ionofield run under nohup: simulate a 2-day storm scenario, then train for hours with
# periodic checkpoints. Runnable as written after `make install` (from the repository root).
#   tail -f runs/ionofield_long/train.log       # follow progress (plain lines, not a TTY)
#   kill -TERM <pid>                            # saves checkpoints/last.pt and exits non-zero
# Resume exactly where it stopped:
#   nohup .venv/bin/python -m ionofield train --scenario runs/ionofield_long/scenario \
#       --cpu-optimized --steps 20000 --run-dir runs/ionofield_long/run --resume \
#       >> runs/ionofield_long/train.log 2>&1 &
set -euo pipefail
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/ionofield_long}
mkdir -p "$OUT"
if [ ! -f "$OUT/scenario/scenario.json" ]; then
  "$PY" -m ionofield simulate --out "$OUT/scenario" --start 2015-03-16 --days 2 > "$OUT/simulate.log" 2>&1
fi
nohup "$PY" -m ionofield train --scenario "$OUT/scenario" --cpu-optimized --steps 20000 \
  --run-dir "$OUT/run" --set train.eval_every=1000 --set train.ckpt_every=500 \
  > "$OUT/train.log" 2>&1 &
echo "training in the background: pid $! (log: $OUT/train.log)"
