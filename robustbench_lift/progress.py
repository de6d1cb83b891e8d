"""Progress of long loops: tqdm's bar on a terminal (or in a notebook), short lines in a log.

A bar redraws itself with carriage returns, which a file or a CI log keeps: one "line" of thousands of updates
per loop. Off a terminal, `progress` prints one plain line at every `EVERY_PERCENT` percent of the total and
at least every `EVERY_SECONDS` seconds while it moves, and a last one when the loop ends:

    render: 1200/6000 img (20 %), 431.0 img/s, 3 s
"""

import sys
import time
from typing import IO, Any

EVERY_PERCENT = 5
EVERY_SECONDS = 60.0
"""Off a terminal: a line per 5 % of the total, and one at least every minute (at most 20 + minutes + 1)."""


class LineProgress:
    """tqdm's `update` / `set_postfix` / `close` (and `with`) as lines `desc: n/total unit (p %), rate, elapsed`
    on `file` (default: the current `sys.stderr`); nothing when not `enabled`."""

    def __init__(self, total: int, desc: str, unit: str, initial: int = 0, file: IO[str] | None = None,
                 enabled: bool = True) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.file, self.enabled, self.postfix = file, enabled, ""
        self._start_n, self._start = initial, time.monotonic()
        self._last_time, self._last_step, self._printed = self._start, self._step(initial), initial

    def _step(self, n: int) -> int:
        return n * 100 // (EVERY_PERCENT * self.total) if self.total > 0 else 0

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if self._step(self.n) > self._last_step or now - self._last_time >= EVERY_SECONDS:
            self._line(now)

    def set_postfix(self, refresh: bool = False, **values: Any) -> None:
        """Values shown at the end of the next line (`refresh` is tqdm's, ignored: lines are printed by `update`)."""
        self.postfix = ", ".join(f"{key} {value}" for key, value in values.items())

    def close(self) -> None:
        if self.n != self._printed:
            self._line(time.monotonic())

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _line(self, now: float) -> None:
        self._last_time, self._last_step, self._printed = now, self._step(self.n), self.n
        if not self.enabled:
            return
        elapsed = now - self._start
        rate = (self.n - self._start_n) / elapsed if elapsed > 0 else 0.0
        share = f" ({100 * self.n // self.total} %)" if self.total > 0 else ""
        extra = f", {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {self.n}/{self.total} {self.unit}{share}, {rate:.1f} {self.unit}/s, {elapsed:.0f} s"
              f"{extra}", file=self.file or sys.stderr, flush=True)


def progress(total: int, desc: str, unit: str = "it", *, enabled: bool = True, initial: int = 0,
             leave: bool = True, file: IO[str] | None = None) -> Any:
    """A progress counter for `total` steps: tqdm (`tqdm.auto`, dynamic width, `leave` as tqdm's) when `file`
    (default `sys.stderr`) is a terminal or the code runs in a notebook kernel, else a `LineProgress`.
    `enabled=False` shows nothing."""
    stream = file or sys.stderr
    interactive = getattr(stream, "isatty", lambda: False)() or (file is None and "ipykernel" in sys.modules)
    if not interactive:
        return LineProgress(total, desc, unit, initial, file, enabled)
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True,
                leave=leave, file=file)
