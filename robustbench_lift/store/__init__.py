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

Readers (`load_results`: report, compare, check, a p baseline) open the file with `readonly=True`: an SQLite
`mode=ro` connection that writes nothing (no schema, no version stamp), so the file's bytes never change and a
read-only store can be read by anyone. A write that SQLite refuses (disk full, read-only file) is a
`LiftbenchError` naming the store.

Writers: a writable file store holds the `writer_lock` row from open to close (one writer per store), and
`put_cell` writes a cell only under that lock and as its run saw the store (`store.lock`).
"""

from robustbench_lift.store.frames import (
    cells_frame,
    check_export,
    check_resumable,
    export_results,
    load_results,
)
from robustbench_lift.store.results import (
    KEY_COLUMNS,
    KEY_SCHEMA,
    RESULT_COLUMNS,
    SCHEMA_VERSION,
    CellResult,
    ResultStore,
    array_from_bytes,
    array_to_bytes,
    compact_indices,
)

__all__ = [
    "KEY_COLUMNS", "KEY_SCHEMA", "RESULT_COLUMNS", "SCHEMA_VERSION", "CellResult", "ResultStore", "array_from_bytes",
    "array_to_bytes", "cells_frame", "check_export", "check_resumable", "compact_indices", "export_results",
    "load_results",
]
