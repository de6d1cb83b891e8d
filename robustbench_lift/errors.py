"""Exceptions the CLI turns into a one-line message and an exit code.

`UsageError` (exit 2) is a mistake in what the user asked for: an unknown name, a bad path, a malformed
layout. `LiftbenchError` (exit 1) is a failure while doing valid work. Both carry a message that names the bad
value and what was expected, so no traceback is needed.
"""


class LiftbenchError(Exception):
    """A failure while running a valid request (exit code 1)."""


class UsageError(LiftbenchError, ValueError):
    """The request itself is wrong: bad name, value, path or layout (exit code 2)."""
