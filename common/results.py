"""Benchmark results as data: every ``bench/`` script writes ``results/<tool>/<bench>.json``.

The file holds the numbers (``tables``: what the docs show; ``raw``: everything else), the
config, the seeds, the commit and the machine. ``docs/gen_tables.py`` renders the tables into
the docs pages, so no number in the docs is typed by hand.

Schema (``physics-ml-result/1``)::

    {"schema", "tool", "bench", "title", "created", "commit", "dirty", "machine",
     "seeds": [...], "config": {...}, "command": "...",
     "tables": [{"name", "caption", "columns": [...], "rows": [[...], ...]}],
     "raw": {...}}
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.io import atomic_write

SCHEMA = "physics-ml-result/1"
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Table:
    """One table of a result: ``rows`` are lists of cells (numbers or strings)."""

    name: str
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "name": self.name,
            "caption": self.caption,
            "columns": list(self.columns),
            "rows": [[_plain(c) for c in row] for row in self.rows],
            "notes": list(self.notes),
        }


def git_commit() -> tuple[str, bool]:
    """The checkout's commit hash and whether the work tree has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
            ).stdout.strip()
        )
    except OSError:
        return "unknown", False
    return head or "unknown", dirty


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "torch": str(torch.__version__),
        "threads": torch.get_num_threads(),
        "cuda": bool(torch.cuda.is_available()),
    }


def write_result(
    tool: str,
    bench: str,
    *,
    tables: Sequence[Table],
    config: dict[str, Any],
    seeds: Sequence[int],
    title: str = "",
    raw: dict[str, Any] | None = None,
    out_dir: str | Path | None = None,
) -> Path:
    """Write ``results/<tool>/<bench>.json`` atomically and return its path."""
    commit, dirty = git_commit()
    payload = {
        "schema": SCHEMA,
        "tool": tool,
        "bench": bench,
        "title": title,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "dirty": dirty,
        "machine": machine(),
        "seeds": [int(s) for s in seeds],
        "config": _plain(config),
        "command": " ".join(sys.argv),
        "tables": [t.as_dict() for t in tables],
        "raw": _plain(raw or {}),
    }
    path = Path(out_dir or REPO / "results") / tool / f"{bench}.json"
    with atomic_write(path) as handle:
        json.dump(payload, handle, indent=1, allow_nan=False)
        handle.write("\n")
    return path


def read_result(path: str | Path) -> dict[str, Any]:
    """Read a result file and check its schema."""
    data = json.loads(Path(path).read_text())
    if data.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not a physics-ml result (schema {data.get('schema')!r})")
    return data


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    vals = [float(v) for v in values]
    mean = sum(vals) / len(vals)
    if len(vals) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))


def _plain(obj: Any) -> Any:
    """JSON-safe: numpy/torch scalars to Python, NaN/inf to None, paths to str."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return _plain(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)
