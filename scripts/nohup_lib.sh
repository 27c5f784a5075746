# Sourced by scripts/<tool>_nohup.sh after it set TOOL: find the repository's venv (the venv
# need not be activated) and hand over to `python -m $TOOL.nohup` (engine: common/nohup.py).
# PY=/path/to/python (or PYTHON=...) picks another interpreter.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PY:-${PYTHON:-$REPO/.venv/bin/python}}
case "${1:-}" in -h | --help)
    sed -n '2,/^set /p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac
die() {
    echo "${TOOL}_nohup: $*" >&2
    exit 1
}
[ -x "$PY" ] || die "no Python at $PY (run 'make install' in $REPO, or set PY=/path/to/python)"
"$PY" -c "import $TOOL.nohup" 2>/dev/null ||
    die "$PY cannot import $TOOL (run 'make install' in $REPO, or set PY=/path/to/python)"
export PHYSICS_ML_NOHUP_SCRIPT=$0
exec "$PY" -m "$TOOL.nohup" "$@"
