"""Progress and metrics that read well both in a terminal and in a ``nohup`` log.

On a TTY a rich progress bar; otherwise one plain, timestamped line every ``log_every_s``
seconds (and at the end), so a log file grows by readable lines instead of carriage-return
noise. Only rank 0 logs at INFO; ``metrics.jsonl`` gets one JSON object per logged step.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_configured: set[str] = set()


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def get_logger(name: str) -> logging.Logger:
    """A logger whose top package writes plain timestamped lines to stderr (rank 0 at INFO)."""
    top = name.split(".")[0]
    if top not in _configured:
        root = logging.getLogger(top)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
        root.addHandler(handler)
        root.setLevel(logging.INFO if _rank() == 0 else logging.WARNING)
        root.propagate = False
        _configured.add(top)
    return logging.getLogger(name)


def format_metrics(metrics: dict[str, Any]) -> str:
    """``loss=1.234e-03 lr=3.0e-04`` with compact number formatting."""
    parts = []
    for key, value in metrics.items():
        if isinstance(value, float):
            text = f"{value:.4g}" if 1e-3 <= abs(value) < 1e4 or value == 0 else f"{value:.3e}"
        else:
            text = str(value)
        parts.append(f"{key}={text}")
    return " ".join(parts)


def _is_tty() -> bool:
    if os.environ.get("PHYSICS_ML_PLAIN_PROGRESS"):
        return False
    return sys.stdout.isatty()


class ProgressReporter:
    """Report training progress: rich bar on a TTY, periodic log lines otherwise."""

    def __init__(
        self,
        total: int,
        desc: str,
        enabled: bool = True,
        log_every_s: float = 10.0,
        logger: logging.Logger | None = None,
        start: int = 0,
    ) -> None:
        self.total, self.desc, self.enabled = int(total), desc, enabled
        self.log_every_s = log_every_s
        self.logger = logger or get_logger(f"progress.{desc}")
        self.start_step = start
        self._bar: Any = None
        self._task: Any = None
        self._t0 = self._last = 0.0
        self._last_step = start

    def __enter__(self) -> ProgressReporter:
        self._t0 = self._last = time.monotonic()
        if self.enabled and _is_tty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[metrics]}"),
            )
            self._bar.start()
            self._task = self._bar.add_task(
                self.desc, total=self.total, completed=self.start_step, metrics=""
            )
        return self

    def update(self, step: int, metrics: dict[str, Any] | None = None) -> None:
        """Record that ``step`` steps are done; show ``metrics`` with it."""
        if not self.enabled:
            return
        text = format_metrics(metrics or {})
        self._last_step = step
        if self._bar is not None:
            self._bar.update(self._task, completed=step, metrics=text)
            return
        now = time.monotonic()
        if now - self._last >= self.log_every_s or step >= self.total:
            self._last = now
            self.logger.info(self._line(step, now, text))

    def _line(self, step: int, now: float, text: str) -> str:
        done = max(step - self.start_step, 0)
        rate = done / max(now - self._t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else math.inf
        eta_txt = "?" if math.isinf(eta) else time.strftime("%H:%M:%S", time.gmtime(eta))
        pct = 100.0 * step / max(self.total, 1)
        head = f"{self.desc} {step}/{self.total} ({pct:.0f}%)"
        return f"{head} {rate:.2f} it/s eta {eta_txt} {text}".rstrip()

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()


class MetricsWriter:
    """Append one JSON object per call to ``metrics.jsonl`` (only where ``enabled``).

    With ``resume_step`` the lines logged after that step by an interrupted run are dropped,
    so a resumed run's file reads as if the run had never stopped.
    """

    def __init__(
        self, path: str | Path, enabled: bool = True, resume_step: int | None = None
    ) -> None:
        self.path, self.enabled = Path(path), enabled
        self._handle = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.exists():
            kept = [ln for ln in self.path.read_text().splitlines() if _step_of(ln) <= resume_step]
            self.path.write_text("".join(f"{ln}\n" for ln in kept))
        elif resume_step is None and self.path.exists():
            self.path.unlink()
        self._handle = open(self.path, "a")

    def write(self, step: int, **metrics: Any) -> None:
        """Append ``{"step": step, "time": unix_s, **metrics}``."""
        if self._handle is None:
            return
        row = {"step": int(step), "time": round(time.time(), 3)}
        row.update({k: _jsonable(v) for k, v in metrics.items()})
        self._handle.write(json.dumps(row) + "\n")
        self._handle.flush()

    def close(self) -> None:
        """Close the file."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> MetricsWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _step_of(line: str) -> float:
    try:
        return float(json.loads(line).get("step", math.inf))
    except (json.JSONDecodeError, AttributeError):
        return math.inf


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (ValueError, RuntimeError):
            return value.tolist()
    return value
