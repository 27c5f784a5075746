"""Small HDF5 helpers: configs and provenance stored as JSON attributes."""

from __future__ import annotations

import json
import platform
import time
from typing import Any


def write_json_attr(obj: Any, key: str, value: Any) -> None:
    """Store ``value`` as a JSON string attribute ``key`` on an h5py file/group/dataset."""
    obj.attrs[key] = json.dumps(value, default=str)


def provenance(tool: str, version: str, **details: Any) -> dict[str, Any]:
    """What made a file: tool, version, time, host Python, plus caller details."""
    return {
        "tool": tool,
        "version": version,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        **details,
    }
