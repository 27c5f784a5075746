#!/usr/bin/env bash
# Long nrfix training runs under nohup; works from a fresh clone with the venv NOT activated.
#
#   scripts/nrfix_nohup.sh start RUN_DIR [nrfix train options ...]   default options: --preset cpu
#   scripts/nrfix_nohup.sh resume RUN_DIR [extra options ...]        e.g. --allow-config-change
#   scripts/nrfix_nohup.sh                                           = start runs/nrfix_cpu
#
# Environment:
#   NPROC=N   run N processes: python -m common.launch --nproc_per_node=N -m nrfix train ...
#             (torchrun that stops cleanly on SIGTERM); kept for `resume`.
#   PYTHON=.. the interpreter (default: this repository's .venv/bin/python).
#
# The script returns as soon as nrfix has checked its options, config and data (seconds),
# printing the PID; a refused start exits non-zero with nrfix's error. The log RUN_DIR/train.log is appended to,
# never overwritten. The train options and NPROC are saved in RUN_DIR/nohup.args and
# RUN_DIR/nohup.nproc, so `resume RUN_DIR` continues with exactly the original settings
# (nrfix itself refuses a changed model/data config). Stop a run with `kill -TERM PID`:
# it saves checkpoints/last.pt and exits 143.
set -euo pipefail

die() {
    echo "nrfix_nohup: $*" >&2
    exit 1
}
usage() { sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

case "${1:-}" in -h | --help)
    usage
    exit 0
    ;;
esac

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
[ -x "$PY" ] || die "no Python at $PY (run 'make install' in $REPO, or set PYTHON=...)"
"$PY" -c "import nrfix, common" 2>/dev/null ||
    die "$PY cannot import nrfix (run 'make install' in $REPO, or set PYTHON=...)"

mode=${1:-start}
[ $# -gt 0 ] && shift
case "$mode" in
start)
    RUN=${1:-runs/nrfix_cpu}
    [ $# -gt 0 ] && shift
    args=("$@")
    [ ${#args[@]} -gt 0 ] || args=(--preset cpu)
    NPROC=${NPROC:-1}
    [[ "$NPROC" =~ ^[1-9][0-9]*$ ]] || die "NPROC must be a positive integer, got '$NPROC'"
    [ ! -e "$RUN/checkpoints/last.pt" ] ||
        die "$RUN already holds a run (checkpoints/last.pt); continue it with: $0 resume $RUN"
    mkdir -p "$RUN"
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
    args=()
    while IFS= read -r -d '' a; do args+=("$a"); done <"$RUN/nohup.args"
    NPROC=$(cat "$RUN/nohup.nproc" 2>/dev/null || echo 1)
    [[ "$NPROC" =~ ^[1-9][0-9]*$ ]] || die "$RUN/nohup.nproc holds '$NPROC', not a process count"
    extra=(--resume "$@")
    ;;
*) die "unknown command '$mode' (use start or resume; --help for usage)" ;;
esac

if [ "$NPROC" -gt 1 ]; then
    cmd=("$PY" -m common.launch --nproc_per_node="$NPROC" -m nrfix train)
else
    cmd=("$PY" -m nrfix train)
fi
cmd+=("${args[@]}" --run-dir "$RUN" "${extra[@]+"${extra[@]}"}")
LOG=$RUN/train.log
echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) $mode: ${cmd[*]}" >>"$LOG"
offset=$(($(stat -c %s "$LOG") + 1))
nohup "${cmd[@]}" >>"$LOG" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$RUN/nohup.pid"

# nrfix checks options, config, data and the resume checkpoint before it trains, and logs
# "inputs checked" once they passed: wait for that line (or for a refusal) before returning.
for _ in $(seq 1200); do
    tail -c "+$offset" "$LOG" | grep "inputs checked" >/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if ! kill -0 "$pid" 2>/dev/null; then
    rc=0
    wait "$pid" || rc=$?
    if [ "$rc" -ne 0 ]; then
        tail -c "+$offset" "$LOG" | grep -v '^Usage:\|^Try \|^$' | tail -n 3 >&2
        die "nrfix train stopped with exit code $rc; see $LOG"
    fi
fi
echo "started PID $pid; log: $LOG (appended); stop: kill -TERM $pid; resume: $0 resume $RUN"
