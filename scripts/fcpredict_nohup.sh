#!/usr/bin/env bash
# Long fcpredict training runs under nohup; works from a fresh clone with the venv NOT activated.
#
#   scripts/fcpredict_nohup.sh start RUN_DIR [fcpredict train options ...]
#       default options: --preset cpu --steps 20000 --set train.eval_every=200
#       without --data: EMT data are generated first into RUN_DIR/data
#       (fcpredict make-data, DATA_N structures (default 200), supercell DATA_DIM (default 2))
#   scripts/fcpredict_nohup.sh resume RUN_DIR [extra options ...]   e.g. --allow-config-change
#   scripts/fcpredict_nohup.sh                                      = start runs/fcpredict_long
#
# Environment:
#   NPROC=N   run N processes: python -m common.launch --nproc_per_node=N -m fcpredict train
#             (torchrun that stops cleanly on SIGTERM); kept for `resume`.
#   PYTHON=.. the interpreter (default: this repository's .venv/bin/python).
#   FCPREDICT_THREADS / OMP_NUM_THREADS: torch threads per process (default 1).
#
# The script returns as soon as fcpredict has checked its inputs, and prints the PID; a refused
# start (bad option, config or data) exits non-zero with the error. The log RUN_DIR/train.log
# is appended to, never overwritten. The options and NPROC are saved in RUN_DIR/nohup.args and
# RUN_DIR/nohup.nproc, so `resume RUN_DIR` continues with exactly the original settings
# (fcpredict itself refuses a changed model/data config). Stop a run with `kill -TERM PID`:
# it saves checkpoints/last.pt and exits 143. Afterwards, e.g.:
#   .venv/bin/fcpredict predict POSCAR --dim "2 2 2" --checkpoint RUN_DIR/checkpoints/best.pt \
#       -o RUN_DIR/pred/FORCE_CONSTANTS --symmetrize
set -euo pipefail

die() {
    echo "fcpredict_nohup: $*" >&2
    exit 1
}
usage() { sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
[ -x "$PY" ] || die "no Python at $PY (run 'make install' in $REPO, or set PYTHON=...)"
"$PY" -c "import fcpredict.cli, common" 2>/dev/null ||
    die "$PY cannot import fcpredict (run 'make install' in $REPO, or set PYTHON=...)"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export PHYSICS_ML_PLAIN_PROGRESS=1

mode=${1:-start}
[ $# -gt 0 ] && shift
case "$mode" in
start)
    RUN=${1:-runs/fcpredict_long}
    [ $# -gt 0 ] && shift
    args=("$@")
    [ ${#args[@]} -gt 0 ] || args=(--preset cpu --steps 20000 --set train.eval_every=200)
    NPROC=${NPROC:-1}
    [[ "$NPROC" =~ ^[1-9][0-9]*$ ]] || die "NPROC must be a positive integer, got '$NPROC'"
    [ ! -e "$RUN/checkpoints/last.pt" ] ||
        die "$RUN already holds a run (checkpoints/last.pt); continue it with: $0 resume $RUN"
    has_data=0
    for a in "${args[@]}"; do
        case "$a" in --data | --data=*) has_data=1 ;; esac
    done
    mkdir -p "$RUN"
    RUN=$(cd "$RUN" && pwd)
    if [ "$has_data" = 0 ]; then
        if [ ! -d "$RUN/data" ]; then
            echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) make-data $RUN/data" >>"$RUN/train.log"
            "$PY" -m fcpredict make-data "$RUN/data" --n "${DATA_N:-200}" --dim "${DATA_DIM:-2}" \
                >>"$RUN/train.log" 2>&1 || {
                rm -rf "$RUN/data"
                die "make-data failed; see $RUN/train.log"
            }
        fi
        args+=(--data "$RUN/data")
    fi
    printf '%s\0' "${args[@]}" >"$RUN/nohup.args"
    echo "$NPROC" >"$RUN/nohup.nproc"
    extra=()
    ;;
resume)
    [ $# -gt 0 ] || die "usage: $0 resume RUN_DIR [extra options]"
    RUN=$1
    shift
    [ -f "$RUN/nohup.args" ] || die "$RUN/nohup.args not found (start the run with this script)"
    [ -f "$RUN/checkpoints/last.pt" ] || die "$RUN/checkpoints/last.pt not found: nothing to resume"
    RUN=$(cd "$RUN" && pwd)
    args=()
    while IFS= read -r -d '' a; do args+=("$a"); done <"$RUN/nohup.args"
    NPROC=$(cat "$RUN/nohup.nproc" 2>/dev/null || echo 1)
    [[ "$NPROC" =~ ^[1-9][0-9]*$ ]] || die "$RUN/nohup.nproc holds '$NPROC', not a process count"
    extra=(--resume "$@")
    ;;
-h | --help)
    usage
    exit 0
    ;;
*) die "unknown command '$mode' (use start or resume; --help for usage)" ;;
esac

if [ -f "$RUN/nohup.pid" ] && kill -0 "$(cat "$RUN/nohup.pid")" 2>/dev/null &&
    ! grep -qs '^State:[[:space:]]*Z' "/proc/$(cat "$RUN/nohup.pid")/status"; then
    die "$RUN is still training (pid $(cat "$RUN/nohup.pid"))"
fi
if [ "$NPROC" -gt 1 ]; then
    cmd=("$PY" -m common.launch --nproc_per_node="$NPROC" -m fcpredict train)
else
    cmd=("$PY" -m fcpredict train)
fi
cmd+=("${args[@]}" --run-dir "$RUN" "${extra[@]+"${extra[@]}"}")
LOG=$RUN/train.log
echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) $mode: ${cmd[*]}" >>"$LOG"
offset=$(($(stat -c %s "$LOG") + 1))
nohup "${cmd[@]}" >>"$LOG" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$RUN/nohup.pid"

# fcpredict checks options, config, data and the resume checkpoint before it writes anything,
# and logs "inputs checked" once they passed: wait for that line (or for a refusal).
for _ in $(seq 3000); do
    tail -c "+$offset" "$LOG" | grep "inputs checked" >/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if ! kill -0 "$pid" 2>/dev/null; then
    rc=0
    wait "$pid" || rc=$?
    if [ "$rc" -ne 0 ]; then
        tail -c "+$offset" "$LOG" | grep -v '^Usage:\|^Try \|^$' | tail -n 3 >&2
        die "fcpredict train stopped with exit code $rc; see $LOG"
    fi
fi
echo "started PID $pid; log: $LOG (appended); stop: kill -TERM $pid; resume: $0 resume $RUN"
