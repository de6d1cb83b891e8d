"""The results store: one SQLite file, one row per evaluated cell, committed as soon as the cell finishes.

Schema (`PRAGMA user_version` = `SCHEMA_VERSION`):

- `runs(run_id, started_at, finished_at, config, environment)`: one row per `evaluate` call; `config` is the
  JSON of the request (arguments, seed, batch size), `environment` the JSON of versions (liftbench, torch,
  torchvision, numpy, python), platform, host, device and world size.
- `cells`, primary key `(model, weights_sha256, suite, dataset, corruption, severity)` (clean cells:
  corruption `clean`, severity 0; `weights_sha256` of the weights file, or of the state dict for a random
  initialisation, a weights tag or an in-memory module: `engine.model.prepare_model`): `n` images, `top1_err`,
  `top5_err` (fractions; NULL for suites without them), `metrics` (JSON of a suite's other scalars), `labels`
  and `predictions` (arrays as `.npy` bytes: labels `(N,)`, the top-k class indices best first `(N, [T,] k)`
  in int16 when the class count allows, else int32; image i is item i of the cell's data in sorted order),
  `fingerprint` (JSON of what else changes the numbers: data identity, limit, seed, backend, precision,
  normalisation), `seconds`, `images_per_second`, `run_id`, `finished_at`.
- `chunks`: the committed chunks of cells an on-the-fly pass has not finished (`engine.chunks`).

A cell is written in one transaction, so a run killed at any point leaves only whole cells, and a resumed run
skips exactly the cells present with the same fingerprint. A different weights file has another sha256 and
so another key: it never reuses rows computed with other weights.
"""

import io
import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustbench_lift.errors import UsageError

SCHEMA_VERSION = 1
KEY_COLUMNS = ("model", "weights_sha256", "suite", "dataset", "corruption", "severity")
RESULT_COLUMNS = (*KEY_COLUMNS, "n", "top1_err", "top5_err")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    config TEXT NOT NULL,
    environment TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cells (
    model TEXT NOT NULL,
    weights_sha256 TEXT NOT NULL,
    suite TEXT NOT NULL,
    dataset TEXT NOT NULL,
    corruption TEXT NOT NULL,
    severity INTEGER NOT NULL,
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
    """An open results store. `ResultStore(":memory:")` keeps results for one process only."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:" and not Path(self.path).parent.is_dir():
            raise UsageError(f"cannot create results store {self.path}: folder {Path(self.path).parent} does not exist")
        try:
            self._db = sqlite3.connect(self.path, timeout=60)
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"{self.path} is not a liftbench results store (SQLite): {exc}") from exc
        if tables - {"sqlite_sequence"} and version != SCHEMA_VERSION:
            raise UsageError(f"{self.path}: results store schema version {version}, expected {SCHEMA_VERSION}")
        with self._db:
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_run(self, config: Mapping[str, Any], environment: Mapping[str, Any]) -> int:
        """Record a run's request and environment; returns its `run_id`."""
        with self._db:
            cursor = self._db.execute("INSERT INTO runs (started_at, config, environment) VALUES (?, ?, ?)",
                                      (_now(), json.dumps(config, default=str), json.dumps(environment)))
        return int(cursor.lastrowid)

    def finish_run(self, run_id: int) -> None:
        with self._db:
            self._db.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", (_now(), run_id))

    def fingerprints(self, model: str, weights_sha256: str, suite: str, dataset: str) -> dict[tuple[str, int], dict]:
        """`{(corruption, severity): fingerprint}` of the cells already stored for this model and data set."""
        rows = self._db.execute(
            "SELECT corruption, severity, fingerprint FROM cells WHERE model = ? AND weights_sha256 = ? "
            "AND suite = ? AND dataset = ?", (model, weights_sha256, suite, dataset))
        return {(c, s): json.loads(f) for c, s, f in rows}

    def put_cell(self, cell: CellResult, run_id: int | None = None) -> None:
        """Write (or replace) one cell and commit."""
        n = int(cell.labels.shape[0])
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (cell.model, cell.weights_sha256, cell.suite, cell.dataset, cell.corruption, int(cell.severity), n,
                 cell.top1_err, cell.top5_err, json.dumps(dict(cell.metrics)),
                 array_to_bytes(compact_indices(cell.labels)), array_to_bytes(compact_indices(cell.predictions)),
                 json.dumps(dict(cell.fingerprint), sort_keys=True), cell.seconds,
                 n / cell.seconds if cell.seconds > 0 else 0.0, run_id, _now()))

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
            labels, preds = row.pop("labels"), row.pop("predictions")
            if predictions:
                row["labels"], row["predictions"] = array_from_bytes(labels), array_from_bytes(preds)
            yield row

    def runs(self) -> pd.DataFrame:
        """The `runs` table, JSON columns decoded."""
        frame = pd.read_sql_query("SELECT * FROM runs ORDER BY run_id", self._db)
        for column in ("config", "environment"):
            frame[column] = frame[column].map(json.loads)
        return frame

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside one transaction, committed at the end (rolled back on an error), for the tables
        other modules own (`engine.chunks`); a `put_cell` inside it commits the writes before it with the cell."""
        with self._db:
            yield self._db


def load_results(path: str | Path | ResultStore, predictions: bool = False) -> pd.DataFrame:
    """All cells of a store as a DataFrame sorted by key; columns `RESULT_COLUMNS`, then `metrics` expanded into
    one column each, `fingerprint` (dict), `seconds`, `images_per_second`, `run_id`, `finished_at`; with
    `predictions` also the per-image `labels` and `predictions` arrays. Errors are fractions in [0, 1]."""
    if isinstance(path, ResultStore):
        return _frame(path.cells(predictions=predictions))
    if not Path(path).is_file():
        raise UsageError(f"no results store at {path}: expected an SQLite file written by `liftbench evaluate`")
    with ResultStore(path) as store:
        return _frame(store.cells(predictions=predictions))


def _frame(rows: Iterator[dict[str, Any]]) -> pd.DataFrame:
    records = []
    for row in rows:
        metrics = json.loads(row.pop("metrics"))
        row["fingerprint"] = json.loads(row["fingerprint"])
        records.append({**row, **metrics})
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    return frame


def export_results(path: str | Path, out: str | Path) -> Path:
    """Write the cells of store `path` (without per-image arrays) to `out`: `.csv` or `.json` (records)."""
    out = Path(out)
    frame = load_results(path)
    frame["fingerprint"] = frame["fingerprint"].map(lambda f: json.dumps(f, sort_keys=True))
    if out.suffix == ".csv":
        frame.to_csv(out, index=False)
    elif out.suffix == ".json":
        frame.to_json(out, orient="records", indent=1)
    else:
        raise UsageError(f"cannot export results to {out}: expected a .csv or .json file name")
    return out


def check_resumable(stored: Mapping[tuple[str, int], Mapping[str, Any]], cell: tuple[str, int],
                    fingerprint: Mapping[str, Any], where: str, overwrite: bool = False) -> bool:
    """True when `cell` is stored with `fingerprint` (skip it), False when absent (compute it).

    A stored cell with another fingerprint means the same model and data were evaluated differently (another
    limit, seed, backend, precision or set of files): raise rather than mix the two or silently overwrite,
    unless `overwrite` (then False: recompute and replace it).
    """
    if cell not in stored:
        return False
    if json.loads(json.dumps(dict(fingerprint), sort_keys=True)) == stored[cell]:
        return True
    if overwrite:
        return False
    changed = sorted(k for k in set(stored[cell]) | set(fingerprint) if stored[cell].get(k) != fingerprint.get(k))
    details = ", ".join(f"{k}: stored {stored[cell].get(k)!r}, now {fingerprint.get(k)!r}" for k in changed)
    raise UsageError(f"{where} already holds cell {cell[0]}/{cell[1]} computed with other settings ({details}); "
                         "use another --out file, or --overwrite to recompute and replace it")
