"""One writer per results store: a lock row taken in a write transaction, and guarded cell writes.

Two `liftbench evaluate` runs on one store with different settings each compare the stored fingerprints when a
suite starts and then write their cells, so without a guard each run replaces the other's cells and the store
ends up mixed. A writable `store.ResultStore` (a file, not `:memory:`) therefore holds the store's
`writer_lock` row (pid, host, the process's start identity, start time, a random token) from open to close:

- the row is taken in a `BEGIN IMMEDIATE` transaction (SQLite's write lock): two processes never both see it free;
- a row of a live process is a `UsageError` naming the store, the pid, the host and the start time;
- a row left by a process that is gone is taken over: same host, and the pid is not running, is a zombie, or
  now belongs to a process started later (Linux: boot id and start time in `/proc/<pid>/stat`), so a SIGKILLed
  run never blocks its own resume. A row of another host is never taken over (its pid cannot be checked here);
- every cell write checks, in the transaction that inserts the cell, that this store still holds the row and
  that the cell is stored as the run saw it when its suite started (`check_cell`): otherwise nothing is written.

The row is deleted on close (or when the store object is collected, or at interpreter exit).
"""

import json
import os
import socket
import sqlite3
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from robustbench_lift.errors import LiftbenchError, UsageError

_TABLE = """CREATE TABLE IF NOT EXISTS writer_lock (
    slot INTEGER PRIMARY KEY CHECK (slot = 0),
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    process TEXT,
    started_at TEXT NOT NULL,
    token TEXT NOT NULL
)"""


def _stat(pid: int) -> list[str] | None:
    """Fields 3.. of `/proc/<pid>/stat` (proc(5): 3 is the state, 22 the start time in clock ticks since boot),
    None without Linux `/proc` or process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def process_identity(pid: int) -> str | None:
    """`"<boot id>/<start time>"` of a running process (Linux), else None: a pid reused after a reboot or by a
    later process has another identity."""
    fields = _stat(pid)
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    return None if fields is None else f"{boot}/{fields[19]}"


def process_gone(pid: int, identity: str | None) -> bool:
    """True when process `pid` of this host, recorded with `identity`, no longer runs (or is a zombie)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return True
    except PermissionError:  # alive, owned by another user
        pass
    fields, current = _stat(pid), process_identity(pid)
    zombie = fields is not None and fields[0] == "Z"
    return zombie or (identity is not None and current is not None and current != identity)


class WriterLock:
    """The `writer_lock` row of the store `path` opened as `db`, taken by `acquire`, freed by `release`."""

    def __init__(self, db: sqlite3.Connection, path: str) -> None:
        self.db, self.path, self.token = db, path, uuid.uuid4().hex

    def acquire(self) -> None:
        """Take the row in one `BEGIN IMMEDIATE` transaction; `UsageError` while a live process holds it."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(_TABLE)
            row = self.db.execute("SELECT pid, host, process, started_at FROM writer_lock").fetchone()
            if row is not None:
                pid, host, identity, started = row
                if host != socket.gethostname() or not process_gone(pid, identity):
                    who = "this process" if (pid, host) == (os.getpid(), socket.gethostname()) else f"pid {pid}"
                    raise UsageError(
                        f"store {self.path} is in use by {who} on host {host} (started {started}); wait for that "
                        f"run to finish, or pass another --out (if no liftbench process runs on {host} any more: "
                        f"sqlite3 {self.path} 'DELETE FROM writer_lock')")
            self.db.execute("INSERT OR REPLACE INTO writer_lock VALUES (0, ?, ?, ?, ?, ?)",
                            (os.getpid(), socket.gethostname(), process_identity(os.getpid()),
                             datetime.now(UTC).isoformat(timespec="seconds"), self.token))

    def check_cell(self, key: tuple[Any, ...], seen: Mapping[tuple[str, int], Mapping[str, Any]] | None) -> None:
        """Inside a write transaction, before cell `key` (the six `store.KEY_COLUMNS`) is written: this store
        still holds the lock, and (unless `seen` is None) the cell is stored as `seen`, the fingerprints of the
        suite when the run started, says (absent, or with that fingerprint); otherwise `LiftbenchError`, and
        the caller's transaction is rolled back."""
        holder = self.db.execute("SELECT pid, host, token FROM writer_lock").fetchone()
        if holder is None or holder[2] != self.token:
            owner = "nobody" if holder is None else f"pid {holder[0]} on host {holder[1]}"
            raise LiftbenchError(f"store {self.path}: the writer lock is now held by {owner}; cell "
                                 f"{key[4]}/{key[5]} of {key[0]} not written; rerun to resume into another --out")
        if seen is None:
            return
        row = self.db.execute("SELECT fingerprint, run_id FROM cells WHERE model = ? AND weights_sha256 = ? AND "
                              "suite = ? AND dataset = ? AND corruption = ? AND severity = ?", key).fetchone()
        stored = None if row is None else _json(row[0])
        expected = seen.get((key[4], key[5]))
        if stored != (None if expected is None else _json(expected)):
            raise LiftbenchError(f"store {self.path}: cell {key[4]}/{key[5]} of {key[0]} was "
                                 f"{'written by run ' + str(row[1]) if row else 'deleted'} while this run computed "
                                 "it; nothing replaced; rerun to resume, or pass another --out")

    def release(self) -> None:
        """Delete the row if this store still holds it; a store that cannot be written any more (deleted, disk
        full) keeps it, and the next writer finds it stale."""
        try:
            with self.db:
                self.db.execute("DELETE FROM writer_lock WHERE token = ?", (self.token,))
        except sqlite3.Error:
            pass


def _json(value: str | Mapping[str, Any]) -> Any:
    """A fingerprint as stored (sorted JSON) and decoded, so dicts and stored text compare alike."""
    return json.loads(value) if isinstance(value, str) else json.loads(json.dumps(dict(value), sort_keys=True))
