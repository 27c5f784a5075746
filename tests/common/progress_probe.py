"""Test helper: record the start step every trainer hands to its progress reporter."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from common.progress import ProgressReporter


def record_progress_starts(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> list[int]:
    """Swap ``module.ProgressReporter`` for a recorder; return the list it fills.

    A resumed run that forgets ``start=`` reports its rate and ETA as if every step
    before the resume had run in this process (a 3600-step resume logged 180 it/s).
    """
    starts: list[int] = []

    class Recording(ProgressReporter):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            starts.append(self.start_step)

    monkeypatch.setattr(module, "ProgressReporter", Recording)
    return starts
