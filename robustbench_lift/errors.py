"""Exceptions the CLI turns into a one-line message and an exit code.

`UsageError` (exit 2) is a mistake in what the user asked for: an unknown name, a bad path, a malformed
layout. `LiftbenchError` (exit 1) is a failure while doing valid work. Both carry a message that names the bad
value and what was expected, so no traceback is needed.
"""

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


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


def worker_errors(batches: Iterable[T]) -> Iterator[T]:
    """The items of `batches` (a DataLoader), its workers' `LiftbenchError`s and `OSError`s re-raised as they
    were raised there (`from_worker`): the one line `--workers 0` prints."""
    iterator = iter(batches)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except (LiftbenchError, OSError) as exc:
            raise from_worker(exc) from None
        yield item
