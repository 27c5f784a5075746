"""User-facing errors of ionofield: one clear line naming the file and the problem, no traceback."""

from __future__ import annotations

import click


class IonofieldError(click.ClickException):
    """An input a user supplied (file, date, option) is wrong; the message says which and why."""


class DataFormatError(IonofieldError):
    """A data file is malformed or truncated; the message starts with the file name."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
