"""``python -m common.launch``: torchrun with a clean stop.

Takes exactly torchrun's arguments (``--nproc_per_node=2 -m nrfix train ...``). Plain torchrun
prints an elastic-agent traceback when it is sent SIGTERM/SIGINT, even though every worker
saved its checkpoint and stopped cleanly; this wrapper forwards the signal the same way and
then exits with ``128 + signal`` and one log line. A worker that failed is reported in one
line too (its own log above says why).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run torchrun's ``main`` and translate its signal/child-failure exceptions."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun_main

    try:
        torchrun_main(argv if argv is not None else sys.argv[1:])
    except SignalException as exc:
        code = 128 + int(exc.sigval)
        print(
            f"launch: stopped by {exc.sigval.name}; workers saved their checkpoints (exit {code})",
            file=sys.stderr,
        )
        return code
    except ChildFailedError as exc:
        codes = sorted({f.exitcode for f in exc.failures.values()})
        print(f"launch: a worker failed (exit codes {codes}); see its log above", file=sys.stderr)
        return next((c for c in codes if c and c > 0), 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
