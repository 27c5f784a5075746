"""Long training runs in the background: start, stop, resume, status (one engine for every tool).

Each tool's ``scripts/<tool>_nohup.sh`` finds the repository's venv and runs
``python -m <tool>.nohup COMMAND RUN_DIR [OPTIONS...]``; that module only describes the tool
(a :class:`NohupSpec`: default options, data to prepare first, the log line that says its
inputs passed their checks) and hands over to :func:`main`.

What a run directory gets: ``nohup.json`` (the options, the process count and the working
directory, so ``resume`` continues with exactly the original settings), ``nohup.pid`` and
``train.log``, which is appended to and never overwritten. The background job runs the
preparation commands (e.g. simulating data) and then *replaces itself* with the trainer, so
the PID printed is the trainer's: ``kill -TERM PID`` makes it save ``last.pt`` and exit 143.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from common.io import atomic_write

STATE = "nohup.json"


@dataclass(frozen=True)
class Prepare:
    """One command run before the first training (skipped when ``creates`` already exists)."""

    args: list[str]  # the tool's CLI arguments, e.g. ["simulate", "--out", ".../scenario"]
    creates: str  # the path it makes


@dataclass(frozen=True)
class NohupSpec:
    """What differs between tools: defaults, preparation, readiness and finishing."""

    tool: str
    default_options: tuple[str, ...]
    ready_marker: str | None = None  # a log line the trainer writes once its inputs passed
    ready_timeout: float = 300.0  # how long ``start`` waits for it (or for an early failure)
    prepare: Callable[[Path, list[str]], tuple[list[Prepare], list[str]]] | None = None
    finish: Callable[[Path, list[str]], list[list[str]]] | None = None


class NohupError(Exception):
    """A refusal: printed as one line ``<tool>_nohup: message`` with exit code 1."""


def option_value(options: Sequence[str], name: str) -> str | None:
    """The value of ``--name VALUE`` or ``--name=VALUE`` in ``options`` (the last one wins)."""
    value = None
    for i, opt in enumerate(options):
        if opt == name and i + 1 < len(options):
            value = options[i + 1]
        elif opt.startswith(name + "="):
            value = opt.split("=", 1)[1]
    return value


def config_options(options: Sequence[str]) -> list[str]:
    """The ``--preset/--config/--set`` items of ``options``, for a preparation command."""
    keep, i = [], 0
    while i < len(options):
        opt = options[i]
        if opt in ("--preset", "--config", "--set") and i + 1 < len(options):
            keep += [opt, options[i + 1]]
            i += 1
        elif opt.split("=", 1)[0] in ("--preset", "--config", "--set") and "=" in opt:
            keep.append(opt)
        i += 1
    return keep


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _script(spec: NohupSpec) -> str:
    return os.environ.get("PHYSICS_ML_NOHUP_SCRIPT", f"python -m {spec.tool}.nohup")


def running_pid(run: Path, spec: NohupSpec) -> int | None:
    """The stored PID if that process is alive, not a zombie, and is this tool's job."""
    try:
        pid = int((run / "nohup.pid").read_text())
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        return None
    if "\nState:\tZ" in status or spec.tool not in cmdline:
        return None
    return pid


def _read_state(run: Path) -> dict:
    path = run / STATE
    if not path.is_file():
        raise NohupError(f"{path} not found (start the run with this script)")
    try:
        state = json.loads(path.read_text())
        nproc = int(state["nproc"])
        if nproc < 1 or not isinstance(state["options"], list):
            raise ValueError
    except (ValueError, KeyError, TypeError) as exc:
        raise NohupError(f"{path} is damaged ({exc.__class__.__name__})") from None
    return state


def _nproc() -> int:
    raw = os.environ.get("NPROC", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise NohupError(f"NPROC must be a positive integer, got '{raw}'")
    return int(raw)


def group_options() -> list[str]:
    """``--threads N`` for the tool's group: env THREADS, else OMP_NUM_THREADS, else 1."""
    threads = os.environ.get("THREADS") or os.environ.get("OMP_NUM_THREADS") or "1"
    if not threads.isdigit():
        raise NohupError(f"THREADS must be a whole number, got '{threads}'")
    return ["--threads", threads]


def train_command(
    spec: NohupSpec, run: Path, state: dict, mode: str, extra: list[str]
) -> list[str]:
    """The trainer's argv: one process, or ``common.launch`` (torchrun) for ``nproc`` > 1."""
    head = [sys.executable, "-m"]
    if int(state["nproc"]) > 1:
        head += ["common.launch", f"--nproc_per_node={state['nproc']}", "-m"]
    cmd = [*head, spec.tool, *group_options(), "train", *state["options"]]
    cmd += ["--run-dir", str(run)]
    return cmd + (["--resume"] if mode == "resume" else []) + extra


def _launch(spec: NohupSpec, run: Path, mode: str, extra: list[str]) -> None:
    """Start the background job, wait until the trainer is ready (or failed), print the PID."""
    state = _read_state(run)
    log = run / "train.log"
    cmd = train_command(spec, run, state, mode, extra)
    job = [sys.executable, "-m", f"{spec.tool}.nohup", "_job", str(run), mode, *extra]
    with open(log, "a") as out:
        out.write(f"=== {_now()} {mode}: {' '.join(cmd)}\n")
        out.flush()
        offset = out.tell()
        proc = subprocess.Popen(
            job, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=state["cwd"], start_new_session=True,
        )  # fmt: skip
    (run / "nohup.pid").write_text(f"{proc.pid}\n")
    _wait_ready(spec, proc, log, offset)
    script = _script(spec)
    print(
        f"started PID {proc.pid}; log: {log} (appended); "
        f"stop: {script} stop {run}; resume: {script} resume {run}"
    )


def _wait_ready(spec: NohupSpec, proc: subprocess.Popen, log: Path, offset: int) -> None:
    """Return once the marker is logged or the timeout passed; raise if the job failed first."""
    end = time.time() + spec.ready_timeout
    while time.time() < end and proc.poll() is None:
        if spec.ready_marker:
            with open(log, "rb") as handle:
                handle.seek(offset)
                if spec.ready_marker.encode() in handle.read():
                    return
        time.sleep(0.1)
    if proc.poll() not in (None, 0):
        with open(log, "rb") as handle:
            handle.seek(offset)
            lines = handle.read().decode(errors="replace").splitlines()
        said = [ln for ln in lines if ln.strip() and not ln.startswith(("Usage:", "Try "))]
        for line in said[-3:]:
            print(line, file=sys.stderr)
        raise NohupError(f"{spec.tool} train stopped with exit code {proc.returncode}; see {log}")


def start(spec: NohupSpec, run: Path, options: list[str]) -> None:
    """Store the options and start training in the background (refuses an existing run)."""
    if (run / "checkpoints" / "last.pt").exists() or (run / STATE).exists():
        raise NohupError(
            f"{run} already holds a run; continue it with: {_script(spec)} resume {run}"
        )
    nproc = _nproc()
    options = options or list(spec.default_options)
    run.mkdir(parents=True, exist_ok=True)
    prepare, added = spec.prepare(run, options) if spec.prepare else ([], [])
    state = {
        "tool": spec.tool,
        "cwd": os.getcwd(),
        "nproc": nproc,
        "options": options + added,
        "prepare": [{"args": p.args, "creates": p.creates} for p in prepare],
    }
    with atomic_write(run / STATE) as handle:
        json.dump(state, handle, indent=1)
    try:
        _launch(spec, run, "start", [])
    except NohupError:  # refused at once (bad option, config or data): leave no run behind
        for name in (STATE, "nohup.pid"):
            (run / name).unlink(missing_ok=True)
        raise


def resume(spec: NohupSpec, run: Path, extra: list[str]) -> None:
    """Continue from ``last.pt`` with the stored options (``extra`` added for this resume only)."""
    if not run.is_dir():
        raise NohupError(f"{run}: no such run directory")
    _read_state(run)
    pid = running_pid(run, spec)
    if pid is not None:
        raise NohupError(f"{run} is still training (pid {pid}; stop it first: kill -TERM {pid})")
    if (run / "checkpoints" / "last.pt").is_file():
        _launch(spec, run, "resume", extra)
    else:  # stopped before its first checkpoint (e.g. while preparing data): train from the start
        _launch(spec, run, "start", extra)


def stop(spec: NohupSpec, run: Path) -> None:
    """Send SIGTERM: the trainer saves ``last.pt`` after its current step and exits 143."""
    pid = running_pid(run, spec)
    if pid is None:
        raise NohupError(f"{run} is not training")
    os.kill(pid, signal.SIGTERM)
    print(f"sent SIGTERM to {pid}; checkpoints/last.pt is saved after the current step")


def status(spec: NohupSpec, run: Path) -> None:
    """Print whether the run is training, and the last lines of its log."""
    _read_state(run)
    pid = running_pid(run, spec)
    print(f"{run}: " + (f"training (pid {pid})" if pid else "not running"))
    log = run / "train.log"
    if log.is_file():
        print("\n".join(log.read_text(errors="replace").splitlines()[-5:]))


def finish(spec: NohupSpec, run: Path) -> None:
    """Run the tool's after-training commands (scores, figures), appending to the log."""
    if spec.finish is None:
        raise NohupError(f"{spec.tool} has no finish step")
    state = _read_state(run)
    if running_pid(run, spec) is not None:
        raise NohupError(f"{run} is still training")
    with open(run / "train.log", "a") as out:
        for args in spec.finish(run, state["options"]):
            cmd = [sys.executable, "-m", spec.tool, *args]
            out.write(f"=== {_now()} finish: {' '.join(cmd)}\n")
            out.flush()
            if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                raise NohupError(f"{' '.join(args[:1])} failed; see {run / 'train.log'}")
    print(f"finished {run}")


def job(spec: NohupSpec, run: Path, mode: str, extra: list[str]) -> None:
    """The background part: prepare what is missing, then become the trainer (same PID)."""
    state = _read_state(run)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["PHYSICS_ML_PLAIN_PROGRESS"] = "1"
    for item in state.get("prepare", []):
        if Path(item["creates"]).exists():
            continue
        cmd = [sys.executable, "-m", spec.tool, *group_options(), *item["args"]]
        print(f"=== {_now()} prepare: {' '.join(cmd)}", flush=True)
        rc = subprocess.run(cmd).returncode
        if rc != 0:
            print(f"{spec.tool}_nohup: preparation failed with exit code {rc}", flush=True)
            sys.exit(rc)
    cmd = train_command(spec, run, state, mode, extra)
    sys.stdout.flush()
    os.execv(cmd[0], cmd)


COMMANDS = "start RUN_DIR [OPTIONS...] | resume RUN_DIR [EXTRA...] | stop RUN_DIR | status RUN_DIR"


def main(spec: NohupSpec, argv: list[str] | None = None) -> int:
    """Dispatch ``COMMAND RUN_DIR [...]``; refusals are one line on stderr and exit 1."""
    args = list(sys.argv[1:] if argv is None else argv)
    commands = COMMANDS + (" | finish RUN_DIR" if spec.finish else "")
    if not args or args[0] in ("-h", "--help"):
        doc = getattr(sys.modules.get("__main__"), "__doc__", "")
        print(f"usage: {_script(spec)} {commands}\n\n{doc or ''}".rstrip())
        return 0 if args else 2
    try:
        if len(args) < 2:
            raise NohupError(f"usage: {_script(spec)} {commands}")
        command, run, rest = args[0], Path(args[1]).resolve(), args[2:]
        if command == "start":
            start(spec, run, rest)
        elif command == "resume":
            resume(spec, run, rest)
        elif command == "_job":
            job(spec, run, rest[0], rest[1:])
        elif command in ("stop", "status", "finish") and not rest:
            {"stop": stop, "status": status, "finish": finish}[command](spec, run)
        else:
            raise NohupError(f"unknown command or extra arguments: {' '.join(args[:1] + rest)}")
    except NohupError as exc:
        print(f"{spec.tool}_nohup: {exc}", file=sys.stderr)
        return 1
    return 0
