"""User-facing errors of ionofield: one clear line naming the file and the problem.

Both are :class:`common.errors.UserError`, which each CLI group shows as one line (exit 1),
never a traceback; the library itself does not import Click.
"""

from __future__ import annotations

from common.errors import UserError


class IonofieldError(UserError):
    """An input a user supplied (file, date, option) is wrong; the message says which and why."""


class DataFormatError(IonofieldError):
    """A data file is malformed or truncated; the message starts with the file name.

    Parameters
    ----------
    path
        The file at fault.
    problem
        What is wrong with it, in one line.
    """

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(problem, path=str(path))
