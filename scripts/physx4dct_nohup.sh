#!/usr/bin/env bash
# Long physx4dct runs under nohup, detached from the terminal. Works without an activated
# venv: it uses the repository's .venv (or PY=/path/to/python), and fails loudly without it.
#
#   bash scripts/physx4dct_nohup.sh start RUN_DIR [train options...]
#       Without --data it first simulates the breathing phantom (irregular trace, drift 0.1)
#       into RUN_DIR/scan.pickle with the same --preset (default: cpu). Then it starts
#       `physx4dct train --run-dir RUN_DIR ...` in the background, prints the PID and returns.
#       The options are stored in RUN_DIR/nohup.args; the log is appended to RUN_DIR/train.log.
#   bash scripts/physx4dct_nohup.sh resume RUN_DIR
#       Continues from RUN_DIR/checkpoints/last.pt with the stored options (+ --resume).
#   bash scripts/physx4dct_nohup.sh stop RUN_DIR
#       SIGTERM: the trainer saves last.pt after the current step and exits.
#   bash scripts/physx4dct_nohup.sh finish RUN_DIR
#       Scores (RUN_DIR/scores.json) and figures (RUN_DIR/figures/) of the finished run.
#
# NPROC=2 runs 2 processes through `python -m common.launch` (torchrun with a clean stop).
# OMP_NUM_THREADS defaults to 1 per process.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
NPROC=${NPROC:-1}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

die() { echo "physx4dct_nohup: $*" >&2; exit 1; }

[ -x "$PY" ] || die "no Python at $PY: run 'make install' in $ROOT first, or set PY=/path/to/python"
"$PY" -c "import physx4dct.cli" 2>/dev/null || die "$PY cannot import physx4dct: run 'make install' in $ROOT"

usage() { sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 2 ] || usage
ACTION=$1
RUN=$(mkdir -p "$2" && cd "$2" && pwd)
shift 2
LOG=$RUN/train.log
ARGS_FILE=$RUN/nohup.args
PID_FILE=$RUN/nohup.pid

running() {  # the stored PID is alive (a zombie, exited but not yet reaped, is not)
  local pid
  [ -f "$PID_FILE" ] || return 1
  pid=$(cat "$PID_FILE")
  kill -0 "$pid" 2>/dev/null || return 1
  ! grep -qs '^State:[[:space:]]*Z' "/proc/$pid/status"
}

launch() {  # train options (without --run-dir / --resume) follow
  local cmd=("$PY" -m physx4dct)
  if [ "$NPROC" -gt 1 ]; then
    cmd=("$PY" -m common.launch --nproc_per_node="$NPROC" -m physx4dct)
  fi
  echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) ${cmd[*]} train --run-dir $RUN $* ===" >> "$LOG"
  nohup "${cmd[@]}" train --run-dir "$RUN" "$@" >> "$LOG" 2>&1 < /dev/null &
  echo $! > "$PID_FILE"
  echo "physx4dct: training in the background, pid $!, log $LOG"
  echo "stop with: bash $0 stop $RUN; continue with: bash $0 resume $RUN"
}

case $ACTION in
  start)
    running && die "$RUN is already training (pid $(cat "$PID_FILE"))"
    [ -f "$RUN/checkpoints/last.pt" ] && die "$RUN has a checkpoint: use 'resume $RUN'"
    args=("$@")
    has_data=0; preset=""
    for ((i = 0; i < ${#args[@]}; i++)); do
      case ${args[i]} in
        --data) has_data=1 ;;
        --data=*) has_data=1 ;;
        --preset) preset=${args[i + 1]:-} ;;
        --preset=*) preset=${args[i]#--preset=} ;;
      esac
    done
    if [ -z "$preset" ]; then preset=cpu; args+=(--preset cpu); fi
    if [ "$has_data" = 0 ]; then
      if [ ! -f "$RUN/scan.pickle" ]; then
        echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) phantom --preset $preset ===" >> "$LOG"
        "$PY" -m physx4dct phantom --preset "$preset" --trace irregular --drift 0.1 \
          --out "$RUN/scan.pickle" >> "$LOG" 2>&1 || die "phantom failed, see $LOG"
      fi
      args+=(--data "$RUN/scan.pickle")
    fi
    printf '%s\0' "${args[@]}" > "$ARGS_FILE"
    launch "${args[@]}"
    ;;
  resume)
    [ $# -eq 0 ] || die "resume takes no options: it reuses $ARGS_FILE"
    [ -f "$ARGS_FILE" ] || die "$ARGS_FILE not found: was $RUN started by this script?"
    running && die "$RUN is still training (pid $(cat "$PID_FILE"))"
    [ -f "$RUN/checkpoints/last.pt" ] || die "$RUN/checkpoints/last.pt not found: nothing to resume"
    mapfile -d '' args < "$ARGS_FILE"
    launch "${args[@]}" --resume
    ;;
  stop)
    running || die "$RUN is not training"
    kill -TERM "$(cat "$PID_FILE")"
    echo "physx4dct: sent SIGTERM to $(cat "$PID_FILE"); last.pt is saved after the current step"
    ;;
  finish)
    running && die "$RUN is still training"
    mapfile -d '' args < "$ARGS_FILE"
    data=""
    for ((i = 0; i < ${#args[@]}; i++)); do
      [ "${args[i]}" = --data ] && data=${args[i + 1]}
    done
    ckpt=$RUN/checkpoints/best.pt
    [ -f "$ckpt" ] || ckpt=$RUN/checkpoints/last.pt
    "$PY" -m physx4dct evaluate --data "$data" --checkpoint "$ckpt" --out "$RUN/scores.json" \
      >> "$LOG" 2>&1 || die "evaluate failed, see $LOG"
    "$PY" -m physx4dct plot --data "$data" --checkpoint "$ckpt" --out "$RUN/figures" \
      >> "$LOG" 2>&1 || die "plot failed, see $LOG"
    echo "physx4dct: $RUN/scores.json, $RUN/figures/"
    ;;
  *) usage ;;
esac
