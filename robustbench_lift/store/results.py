"""The SQLite results store (schema and writing: `robustbench_lift.store`'s docstring)."""

import io
import json
import sqlite3
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.store.lock import WriterLock

SCHEMA_VERSION = 1
KEY_COLUMNS = ("model", "weights_sha256", "suite", "dataset", "corruption", "severity")
RESULT_COLUMNS = (*KEY_COLUMNS, "n", "top1_err", "top5_err")
KEY_SCHEMA = """
    model TEXT NOT NULL,
    weights_sha256 TEXT NOT NULL,
    suite TEXT NOT NULL,
    dataset TEXT NOT NULL,
    corruption TEXT NOT NULL,
    severity INTEGER NOT NULL,"""
"""The column definitions of `KEY_COLUMNS`, shared by every table keyed by cell (`cells`, `engine.chunks`)."""
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    config TEXT NOT NULL,
    environment TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cells ({KEY_SCHEMA}
    n INTEGER NOT NULL,
    top1_err REAL,
    top5_err REAL,
    metrics TEXT NOT NULL,
    labels BLOB NOT NULL,
    predictions BLOB NOT NULL,
    fingerprint TEXT NOT NULL,
    seconds REAL NOT NULL,
    images_per_second REAL NOT NULL,
    run_id INTEGER REFERENCES runs(run_id),
    finished_at TEXT NOT NULL,
    PRIMARY KEY (model, weights_sha256, suite, dataset, corruption, severity)
);
"""


@dataclass
class CellResult:
    """One evaluated cell: its key, per-image arrays and the scalars computed from them."""

    model: str
    weights_sha256: str
    suite: str
    dataset: str
    corruption: str
    severity: int
    labels: np.ndarray
    predictions: np.ndarray
    top1_err: float | None
    top5_err: float | None
    fingerprint: Mapping[str, Any]
    seconds: float
    metrics: Mapping[str, float] = field(default_factory=dict)


def array_to_bytes(array: np.ndarray) -> bytes:
    """`array` as `.npy` bytes (dtype and shape included, no pickle)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def array_from_bytes(blob: bytes) -> np.ndarray:
    """The array written by `array_to_bytes`."""
    return np.load(io.BytesIO(blob), allow_pickle=False)


def compact_indices(array: np.ndarray) -> np.ndarray:
    """Class indices as int16 when they fit (ImageNet's 1000 classes do), else int32."""
    array = np.asarray(array)
    small = array.size == 0 or (array.min() >= np.iinfo(np.int16).min and array.max() <= np.iinfo(np.int16).max)
    return array.astype(np.int16 if small else np.int32)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ResultStore:
    """An open results store. `ResultStore(":memory:")` keeps results for one process only; `readonly=True` opens
    an existing store for reading only (an SQLite `mode=ro` URI: nothing is ever written)."""

    def __init__(self, path: str | Path, readonly: bool = False) -> None:
        self.path, self._lock = str(path), None
        if readonly and not Path(self.path).is_file():
            raise UsageError(f"no results store at {self.path}: expected an SQLite file written by `liftbench "
                             "evaluate`")
        if not readonly and self.path != ":memory:" and not Path(self.path).parent.is_dir():
            raise UsageError(f"cannot create results store {self.path}: folder {Path(self.path).parent} does not exist")
        try:
            self._db = (sqlite3.connect(Path(self.path).resolve().as_uri() + "?mode=ro", uri=True, timeout=60)
                        if readonly else sqlite3.connect(self.path, timeout=60))
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"{self.path} is not a liftbench results store (SQLite): {exc}") from exc
        if readonly and not {"runs", "cells"} <= tables:
            raise UsageError(f"{self.path} is not a liftbench results store (no cells and runs tables): expected a "
                             "file written by `liftbench evaluate`")
        if tables - {"sqlite_sequence"} and version != SCHEMA_VERSION:
            raise UsageError(f"{self.path}: results store schema version {version}, expected {SCHEMA_VERSION}")
        if readonly:
            return
        with self._writing():
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        if self.path != ":memory:":
            self._lock = WriterLock(self._db, self.path)
            try:
                with self._writing():
                    self._lock.acquire()
            except LiftbenchError:
                self._db.close()
                raise
            self._release = weakref.finalize(self, self._lock.release)  # also when the store is never closed

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One committed write transaction; SQLite's refusals (disk full, read-only) name the store and the fix."""
        try:
            with self._db:
                yield
        except sqlite3.DatabaseError as exc:
            hint = ("free disk space, or write to another --out" if "full" in str(exc) else
                    "the file or its folder is read-only: use another --out" if "readonly" in str(exc) else
                    "its tables are not liftbench's: use another --out" if "no such column" in str(exc) else
                    "another process may be writing it, or the file is damaged")
            raise LiftbenchError(f"cannot write results store {self.path}: {exc} ({hint})") from exc

    def close(self) -> None:
        if self._lock is not None:
            self._release()
        self._db.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_run(self, config: Mapping[str, Any], environment: Mapping[str, Any]) -> int:
        """Record a run's request and environment; returns its `run_id`."""
        with self._writing():
            cursor = self._db.execute("INSERT INTO runs (started_at, config, environment) VALUES (?, ?, ?)",
                                      (_now(), json.dumps(config, default=str), json.dumps(environment)))
        return int(cursor.lastrowid)

    def finish_run(self, run_id: int) -> None:
        with self._writing():
            self._db.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", (_now(), run_id))

    def fingerprints(self, model: str, weights_sha256: str, suite: str, dataset: str) -> dict[tuple[str, int], dict]:
        """`{(corruption, severity): fingerprint}` of the cells already stored for this model and data set."""
        rows = self._db.execute(
            "SELECT corruption, severity, fingerprint FROM cells WHERE model = ? AND weights_sha256 = ? "
            "AND suite = ? AND dataset = ?", (model, weights_sha256, suite, dataset))
        return {(c, s): self._decoded({"model": model, "corruption": c, "severity": s}, "fingerprint", f)
                for c, s, f in rows}

    def _decoded(self, row: Mapping[str, Any], column: str, value: Any) -> Any:
        """`value` of `column` decoded (JSON text to a dict, `.npy` bytes to an array); a value that is not
        what liftbench writes (a damaged file, a pickle put in by hand) is a `LiftbenchError` naming the cell."""
        try:
            if column in ("labels", "predictions"):
                return array_from_bytes(value)
            decoded = json.loads(value)
            if not isinstance(decoded, dict):
                raise ValueError(f"a JSON {type(decoded).__name__}, not an object")
            return decoded
        except (ValueError, TypeError, EOFError, OSError, RecursionError) as exc:
            kind = "an .npy array without pickles" if column in ("labels", "predictions") else "a JSON object"
            raise LiftbenchError(f"cannot read results store {self.path}: cell {row['corruption']}/{row['severity']} "
                                 f"of {row['model']}: {column} is not {kind} ({exc}); the file is damaged: delete "
                                 "that cell's row or evaluate into another --out") from exc

    def put_cell(self, cell: CellResult, run_id: int | None = None,
                 seen: Mapping[tuple[str, int], Mapping[str, Any]] | None = None) -> dict[str, Any]:
        """Write (or replace) one cell and commit; refused (`LiftbenchError`) unless stored as `seen`, the
        `fingerprints` its run read when it started, say: `WriterLock.check_cell`, in the same transaction.
        Returns the row as `cells(predictions=True)` reads it back, so a writer need not read it."""
        n = int(cell.labels.shape[0])
        key = (cell.model, cell.weights_sha256, cell.suite, cell.dataset, cell.corruption, int(cell.severity))
        real = [None if v is None else float(v) for v in (cell.top1_err, cell.top5_err, cell.seconds)]
        row = {**dict(zip(KEY_COLUMNS, key)), "n": n, "top1_err": real[0], "top5_err": real[1],
               "metrics": json.dumps(dict(cell.metrics)), "fingerprint": json.dumps(dict(cell.fingerprint),
                                                                                    sort_keys=True),
               "seconds": real[2], "images_per_second": n / real[2] if real[2] > 0 else 0.0, "run_id": run_id,
               "finished_at": _now()}
        arrays = {"labels": compact_indices(cell.labels), "predictions": compact_indices(cell.predictions)}
        with self._writing():
            if not self._db.in_transaction:  # else a `transaction()`'s writes already hold the write lock
                self._db.execute("BEGIN IMMEDIATE")
            if self._lock is not None:
                self._lock.check_cell(key, seen)
            columns = {**row, **{k: array_to_bytes(v) for k, v in arrays.items()}}
            self._db.execute(f"INSERT OR REPLACE INTO cells ({', '.join(columns)}) VALUES "
                             f"({', '.join('?' * len(columns))})", tuple(columns.values()))
        return {**row, **arrays}

    def cells(self, predictions: bool = False, **where: Any) -> Iterator[dict[str, Any]]:
        """Rows of `cells` as dicts, filtered by equality on any columns; arrays decoded when `predictions`."""
        unknown = set(where) - set(KEY_COLUMNS) - {"run_id"}
        if unknown:
            raise UsageError(f"cannot filter cells by {sorted(unknown)}: expected some of {KEY_COLUMNS}")
        clause = " AND ".join(f"{column} = ?" for column in where) or "1"
        cursor = self._db.execute(f"SELECT * FROM cells WHERE {clause} ORDER BY {', '.join(KEY_COLUMNS)}",
                                  tuple(where.values()))
        names = [d[0] for d in cursor.description]
        for values in cursor:
            row = dict(zip(names, values))
            for column in ("fingerprint", "metrics"):  # checked here so every reader gets one clear error
                self._decoded(row, column, row[column])
            labels, preds = row.pop("labels"), row.pop("predictions")
            if predictions:
                row["labels"], row["predictions"] = (self._decoded(row, "labels", labels),
                                                     self._decoded(row, "predictions", preds))
            yield row

    def runs(self) -> pd.DataFrame:
        """The `runs` table, JSON columns decoded."""
        frame = pd.read_sql_query("SELECT * FROM runs ORDER BY run_id", self._db)
        for column in ("config", "environment"):
            frame[column] = frame[column].map(json.loads)
        return frame

    def has_table(self, name: str) -> bool:
        """Whether the store holds table `name` (the tables other modules create on first write read as empty
        without it)."""
        return self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                (name,)).fetchone() is not None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside one transaction, committed at the end (rolled back on an error), for the tables
        other modules own (`engine.chunks`); a `put_cell` inside it commits the writes before it with the cell.
        SQLite's refusals are `LiftbenchError`s naming the store, as in `put_cell`."""
        with self._writing():
            yield self._db


@contextmanager
def opened(source: "str | Path | ResultStore") -> Iterator[ResultStore]:
    """`source` itself if it is an open store (a writer reading what it holds, on its own connection), else the
    store at that path opened read-only and closed afterwards."""
    if isinstance(source, ResultStore):
        yield source
        return
    with ResultStore(source, readonly=True) as store:
        yield store
