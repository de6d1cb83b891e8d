"""Exceptions the CLI turns into a one-line message and an exit code.

`UsageError` (exit 2) is a mistake in what the user asked for: an unknown name, a bad path, a malformed
layout. `LiftbenchError` (exit 1) is a failure while doing valid work. Both carry a message that names the bad
value and what was expected, so no traceback is needed.
"""


class LiftbenchError(Exception):
    """A failure while running a valid request (exit code 1)."""


class UsageError(LiftbenchError, ValueError):
    """The request itself is wrong: bad name, value, path or layout (exit code 2)."""


def from_worker(exc: BaseException) -> BaseException:
    """The error a DataLoader worker raised, as it was raised there. Torch re-raises a worker's error in the main
    process as `type(exc)("Caught <type> in DataLoader worker process i.\\nOriginal Traceback ...")`
    (`torch.utils._utils.ExceptionWrapper`); the original message, the one line the CLI prints, ends that text
    after `<module>.<type>: `. Any other error is returned as it is."""
    text = str(exc)
    if not (text.startswith("Caught ") and "DataLoader worker" in text.partition("\n")[0]):
        return exc
    marker = f"\n{type(exc).__module__}.{type(exc).__qualname__}: "
    _, found, message = text.rpartition(marker)
    return type(exc)(message.rstrip("\n")) if found else exc
