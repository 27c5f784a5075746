"""Clean stops: SIGTERM/SIGINT during training ask the loop to save ``last.pt`` and exit.

The handler only sets a flag; the training loop checks ``stop.requested`` between steps,
writes its checkpoint, and calls ``stop.exit()``, which raises ``SystemExit(128 + signum)``
(non-zero, as a shell expects from a signalled job). A second signal aborts at once.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from common.progress import get_logger

_log = get_logger("common.signals")


class GracefulInterrupt:
    """Context manager turning SIGTERM/SIGINT into a polite stop request."""

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> None:
        self.signals = signals
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        """True once a signal arrived."""
        return self.signum is not None

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # second signal: give up waiting for a clean stop
            raise KeyboardInterrupt
        self.signum = signum
        _log.warning(
            "received %s: saving a checkpoint after the current step, then stopping",
            signal.Signals(signum).name,
        )

    def __enter__(self) -> GracefulInterrupt:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def exit(self) -> None:
        """Raise ``SystemExit(128 + signum)`` after the caller saved its state."""
        code = 128 + (self.signum or signal.SIGTERM)
        _log.warning("stopped by signal; checkpoint saved; exit code %d", code)
        raise SystemExit(code)
