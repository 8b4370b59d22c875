"""The one exception the CLI turns into a single clear line and a non-zero exit."""

from __future__ import annotations

EXIT_ERROR = 1
EXIT_NOT_RUNNING = 3


class StackError(Exception):
    """A failure with a cause a person can act on.

    ``message`` is one line naming the cause; ``details`` (optional) are extra lines such as the
    tail of a log, printed indented after it.
    """

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: list[str] = list(details or [])
