"""Partial cells: a pass over the images commits its predictions per chunk of images, so a killed run resumes.

A group of cells is computed in one pass over its images (`suites.base.CellGroup`: on the fly, every cell of a
suite; pre-rendered, one cell). Per chunk of about `RunOptions.chunk` images (`chunk_items`), the predictions of
every cell of the pass for that chunk are committed in one transaction to the store's `chunks` table (created
by `load_partials`, i.e. by the first run that writes chunks); a finished cell is written to `cells` and its chunks
deleted in one transaction. A run killed at any point therefore loses at most the chunk in progress, and a
resumed run loads the chunks stored with the cell's fingerprint and computes only the missing ones (`plan`).
A chunk starts at a multiple of the loader batch, so its batches are those of an unchunked pass and the
resumed predictions equal an uninterrupted run's bit for bit (every random number is drawn per image anyway:
`corruptions.seeding`).

Table `chunks`, primary key `(model, weights_sha256, suite, dataset, corruption, severity, start)`: positions
`start:stop` of the cell's evenly spaced image list (`data.evenly_spaced(images, limit)`), their `labels` and
top-k `predictions` (`.npy` bytes, as in `cells`), the cell's `fingerprint`, `seconds` (the cell's share of
the chunk's time), `run_id`, `finished_at`. A chunk stored with another fingerprint is never reused: like a
cell, it is an error, or with `overwrite` deleted (`store.check_resumable`).
"""

import json
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from robustbench_lift.store import (
    KEY_SCHEMA,
    CellResult,
    ResultStore,
    array_from_bytes,
    array_to_bytes,
    check_resumable,
    compact_indices,
)

Cell = tuple[str, int]
Key = tuple[str, str, str, str]
"""(model, weights_sha256, suite, dataset) of a group's cells."""
Pass = tuple[list[Cell], list[tuple[int, int]]]
"""(cells, chunks `(start, stop)`) computed by one pass of the runner."""
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS chunks ({KEY_SCHEMA}
    start INTEGER NOT NULL,
    stop INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    labels BLOB NOT NULL,
    predictions BLOB NOT NULL,
    seconds REAL NOT NULL,
    run_id INTEGER REFERENCES runs(run_id),
    finished_at TEXT NOT NULL,
    PRIMARY KEY (model, weights_sha256, suite, dataset, corruption, severity, start)
)
"""
_GROUP = "model = ? AND weights_sha256 = ? AND suite = ? AND dataset = ?"


class Partial:
    """One cell's predictions so far over its n positions: `covered` `(n,)` bool, `labels` `(n, ...)` and
    `predictions` `(n, ...)` (top-k `(n, [T,] k)` with labels `(n,)`, or a dense group's counts; allocated by the
    first chunk), `seconds` summed over its chunks."""

    def __init__(self, n: int) -> None:
        self.covered = np.zeros(n, bool)
        self.labels: np.ndarray | None = None
        self.predictions: np.ndarray | None = None
        self.seconds = 0.0

    @property
    def complete(self) -> bool:
        return bool(self.covered.all())

    def fill(self, start: int, labels: np.ndarray, predictions: np.ndarray, seconds: float) -> None:
        """Positions `start:start + len(labels)` from one chunk."""
        if self.predictions is None:
            self.labels = np.zeros((len(self.covered), *labels.shape[1:]), np.int64)
            self.predictions = np.zeros((len(self.covered), *predictions.shape[1:]), np.int64)
        stop = start + len(labels)
        self.labels[start:stop], self.predictions[start:stop] = labels, predictions
        self.covered[start:stop] = True
        self.seconds += seconds


def chunk_items(chunk: int, per_batch: int, frames: int) -> int:
    """Items per chunk for about `chunk` images of `frames` inputs each: the nearest whole number of loader
    batches of `per_batch` items, at least one."""
    return max(1, round(chunk / frames / per_batch)) * per_batch


def plan(partials: dict[Cell, Partial], cells: list[Cell], n: int, size: int) -> list[Pass]:
    """The passes that complete `cells`: chunks `[a, min(a + size, n))`, a = 0, size, 2 size, ..., that some cell
    lacks (a chunk partly covered by chunks of another size counts as lacking), as `(cells lacking them,
    chunks)`, consecutive chunks lacked by the same cells in one pass."""
    passes: list[Pass] = []
    for start in range(0, n, size):
        stop = min(start + size, n)
        lacking = [cell for cell in cells if not partials[cell].covered[start:stop].all()]
        if not lacking:
            continue
        if passes and passes[-1][0] == lacking:
            passes[-1][1].append((start, stop))
        else:
            passes.append((lacking, [(start, stop)]))
    return passes


def load_partials(store: ResultStore, key: Key, fingerprints: dict[Cell, dict[str, Any]], n: int, where: str,
                  overwrite: bool) -> dict[Cell, Partial]:
    """A `Partial` of every cell of `fingerprints` from its stored chunks. Chunks stored with another fingerprint
    raise a `UsageError` (`check_resumable`), or with `overwrite` are deleted."""
    partials = {cell: Partial(n) for cell in fingerprints}
    with store.transaction() as db:
        db.execute(_SCHEMA)
        rows = db.execute(f"SELECT corruption, severity, start, fingerprint, labels, predictions, seconds FROM chunks "
                          f"WHERE {_GROUP} ORDER BY corruption, severity, start", key).fetchall()
        stale = []
        for corruption, severity, start, fingerprint, labels, predictions, seconds in rows:
            cell = (corruption, severity)
            if cell not in partials:
                continue
            if check_resumable({cell: json.loads(fingerprint)}, cell, fingerprints[cell], f"{where} (chunks)",
                               overwrite):
                partials[cell].fill(start, array_from_bytes(labels), array_from_bytes(predictions), seconds)
            else:
                stale.append((*key, *cell, start))
        db.executemany(f"DELETE FROM chunks WHERE {_GROUP} AND corruption = ? AND severity = ? AND start = ?", stale)
    return partials


def put_chunk(store: ResultStore, key: Key, start: int, arrays: dict[Cell, tuple[np.ndarray, np.ndarray]],
              fingerprints: dict[Cell, dict[str, Any]], seconds: float, run_id: int) -> None:
    """Commit one chunk (positions `start:start + len(labels)`) of several cells, `{cell: (labels, predictions)}`,
    in one transaction."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    rows = [(*key, *cell, start, start + len(labels), json.dumps(fingerprints[cell], sort_keys=True),
             array_to_bytes(compact_indices(labels)), array_to_bytes(compact_indices(predictions)), seconds, run_id,
             now) for cell, (labels, predictions) in arrays.items()]
    with store.transaction() as db:
        db.executemany("INSERT OR REPLACE INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def _delete(db: sqlite3.Connection, key: Key, cell: Cell) -> None:
    db.execute(f"DELETE FROM chunks WHERE {_GROUP} AND corruption = ? AND severity = ?", (*key, *cell))


def delete_chunks(store: ResultStore, key: Key, cell: Cell) -> None:
    """Delete the chunks of `cell` (e.g. of an anchor computed for other cells, once they are written)."""
    with store.transaction() as db:
        _delete(db, key, cell)


def complete_cell(store: ResultStore, result: CellResult, run_id: int, seen: Mapping | None = None
                  ) -> dict[str, Any]:
    """Write a finished cell and delete its chunks in one transaction (`seen`, the row returned: as
    `ResultStore.put_cell`)."""
    key = (result.model, result.weights_sha256, result.suite, result.dataset)
    with store.transaction() as db:
        _delete(db, key, (result.corruption, result.severity))
        return store.put_cell(result, run_id, seen)  # its commit covers the deletion above
