"""User-facing errors: one class every library raises for a problem the user can fix.

Libraries never import Click. They raise :class:`UserError` (a bad file, option, config key
or checkpoint); each tool's CLI group (:class:`common.options.UserErrorGroup`) turns it into
one line on stderr and exit code 1, with no traceback.
"""

from __future__ import annotations

import os


class UserError(Exception):
    """A problem in what the user supplied; the message names the file/option and the problem.

    Parameters
    ----------
    message
        What is wrong, in one line.
    path
        The file (or option name) at fault; when given, the message starts with it.
    """

    def __init__(self, message: str, *, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else str(path)
        text = " ".join(str(message).split())  # one line, always
        super().__init__(f"{self.path}: {text}" if self.path else text)
