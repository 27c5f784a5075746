#!/usr/bin/env bash
# Long ionofield training in the background (nohup); needs no activated venv.
#
#   scripts/ionofield_nohup.sh start RUN_DIR [TRAIN OPTIONS...]
#   scripts/ionofield_nohup.sh resume RUN_DIR [EXTRA OPTIONS...]
#
# start   stores the options (with every --set) in RUN_DIR/nohup.args, then runs
#         `ionofield train ... --run-dir RUN_DIR` in the background and returns at once with its
#         PID. Without --scenario in the options, a scenario is first simulated into
#         RUN_DIR/scenario (with the options' --preset/--config/--set). Default options:
#         --cpu-optimized --steps 20000 --set train.eval_every=1000 --set train.ckpt_every=500
# resume  continues RUN_DIR from checkpoints/last.pt with exactly the stored options
#         (EXTRA options such as --allow-config-change are added for this resume only).
#
# Both append to RUN_DIR/train.log (follow with `tail -f`). `kill -TERM PID` saves
# checkpoints/last.pt and stops (exit 143). Environment: NPROC=N runs N processes through
# `python -m common.launch` (torchrun with a clean stop); THREADS=N sets torch's CPU threads;
# PY=/path/to/python overrides the interpreter (default: the repository's .venv).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}

die() {
  echo "ionofield_nohup: $*" >&2
  exit 1
}

check_python() {
  [ -x "$PY" ] || die "no Python at $PY (run 'make install' in $ROOT, or set PY=/path/to/python)"
  "$PY" -c "import ionofield, common" 2>/dev/null \
    || die "$PY cannot import ionofield (run 'make install' in $ROOT)"
}

read_args() {  # RUN_DIR -> ARGS array (NUL-separated file: cwd, nproc, simulate flag, options)
  [ -f "$1/nohup.args" ] || die "$1/nohup.args not found (was the run started by this script?)"
  ARGS=()
  while IFS= read -r -d '' item; do ARGS+=("$item"); done < "$1/nohup.args"
  [ "${#ARGS[@]}" -ge 3 ] || die "$1/nohup.args is damaged"
}

sim_options() {  # the config options of the train options, for `ionofield simulate`
  SIM=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --preset | --config | --set) [ $# -ge 2 ] && SIM+=("$1" "$2"); shift ;;
      --preset=* | --config=* | --set=*) SIM+=("$1") ;;
    esac
    shift
  done
}

launch() {  # RUN_DIR MODE [EXTRA...]: background runner, returns at once
  local run=$1 mode=$2
  shift 2
  printf '\n=== %s: %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$mode" >> "$run/train.log"
  nohup bash "$ROOT/scripts/ionofield_nohup.sh" _run "$run" "$mode" "$@" >> "$run/train.log" 2>&1 < /dev/null &
  echo "$!" > "$run/nohup.pid"
  echo "ionofield training ($mode) in the background: pid $! (log: $run/train.log)"
}

run_job() {  # the background part: simulate if needed, then exec the training
  local run=$1 mode=$2
  shift 2
  read_args "$run"
  cd "${ARGS[0]}"
  local nproc=${ARGS[1]} simulate=${ARGS[2]} opts=("${ARGS[@]:3}")
  local threads=(--threads "${THREADS:-0}")
  if [ "$simulate" = 1 ] && [ ! -f "$run/scenario/scenario.json" ]; then
    sim_options "${opts[@]}"
    "$PY" -m ionofield "${threads[@]}" simulate --out "$run/scenario" "${SIM[@]}"
  fi
  local resume=()
  [ "$mode" = resume ] && resume=(--resume)
  echo "ionofield_nohup: pid $$, NPROC=$nproc: train ${opts[*]} --run-dir $run ${resume[*]} $*"
  if [ "$nproc" -gt 1 ]; then
    exec "$PY" -m common.launch --nproc_per_node="$nproc" -m ionofield "${threads[@]}" train \
      "${opts[@]}" --run-dir "$run" "${resume[@]}" "$@"
  fi
  exec "$PY" -m ionofield "${threads[@]}" train "${opts[@]}" --run-dir "$run" "${resume[@]}" "$@"
}

start() {
  [ $# -ge 1 ] || die "usage: $0 start RUN_DIR [TRAIN OPTIONS...]"
  local run=$1
  shift
  [ -e "$run/nohup.args" ] && die "$run was already started; use: $0 resume $run"
  [ $# -gt 0 ] || set -- --cpu-optimized --steps 20000 --set train.eval_every=1000 \
    --set train.ckpt_every=500
  local simulate=1 opt
  for opt in "$@"; do
    case "$opt" in --scenario | --scenario=*) simulate=0 ;; esac
  done
  [[ "${NPROC:-1}" =~ ^[1-9][0-9]*$ ]] || die "NPROC must be a positive integer, got '${NPROC}'"
  check_python
  mkdir -p "$run"
  run=$(cd "$run" && pwd)
  [ "$simulate" = 1 ] && set -- "$@" --scenario "$run/scenario"
  printf '%s\0' "$PWD" "${NPROC:-1}" "$simulate" "$@" > "$run/.nohup.args.tmp"
  mv "$run/.nohup.args.tmp" "$run/nohup.args"
  launch "$run" start
}

resume() {
  [ $# -ge 1 ] || die "usage: $0 resume RUN_DIR [EXTRA OPTIONS...]"
  [ -d "$1" ] || die "$1: no such run directory"
  local run
  run=$(cd "$1" && pwd)
  shift
  read_args "$run"
  local pid
  pid=$(cat "$run/nohup.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null \
    && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q ionofield; then
    die "$run is still being trained by pid $pid (stop it first: kill -TERM $pid)"
  fi
  check_python
  if [ -f "$run/checkpoints/last.pt" ]; then
    launch "$run" resume "$@"
  else  # stopped before its first checkpoint (e.g. while simulating): start the training again
    launch "$run" start "$@"
  fi
}

case "${1:-}" in
  start) shift; start "$@" ;;
  resume) shift; resume "$@" ;;
  _run) shift; run_job "$@" ;;
  *) die "usage: $0 start RUN_DIR [TRAIN OPTIONS...] | resume RUN_DIR [EXTRA OPTIONS...]" ;;
esac
