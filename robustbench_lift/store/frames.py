"""Reading a store into pandas (`load_results`, `export_results`) and the resume rule (`check_resumable`)."""

import json
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from robustbench_lift.csv_safe import to_csv
from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.store.results import RESULT_COLUMNS, ResultStore, opened


def load_results(path: str | Path | ResultStore, predictions: bool = False) -> pd.DataFrame:
    """All cells of a store as a DataFrame sorted by key; columns `RESULT_COLUMNS`, then `metrics` expanded into
    one column each, `fingerprint` (dict), `seconds`, `images_per_second`, `run_id`, `finished_at`; with
    `predictions` also the per-image `labels` and `predictions` arrays. Errors are fractions in [0, 1]."""
    with opened(path) as store:
        try:
            return cells_frame(store.cells(predictions=predictions))
        except sqlite3.DatabaseError as exc:  # e.g. a damaged page, or a hot journal a read-only reader cannot undo
            raise LiftbenchError(f"cannot read results store {store.path}: {exc}") from exc


def cells_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """The frame of `load_results` from rows as `ResultStore.cells` yields them (or `put_cell` returns them)."""
    records = []
    for row in rows:
        metrics = json.loads(row.pop("metrics"))
        row["fingerprint"] = json.loads(row["fingerprint"])
        records.append({**row, **metrics})
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    return frame


def check_export(out: str | Path) -> Path:
    """`out` as a path `export_results` can write: a `.csv` or `.json` file name in an existing folder; else a
    `UsageError` naming it (asked before an evaluation, so a typo costs nothing)."""
    out = Path(out)
    if out.is_dir():
        raise UsageError(f"cannot export results to {out}: it is a folder; expected a .csv or .json file name")
    if out.suffix not in (".csv", ".json"):
        raise UsageError(f"cannot export results to {out}: expected a .csv or .json file name")
    if not out.parent.is_dir():
        raise UsageError(f"cannot export results to {out}: folder {out.parent} does not exist")
    return out


def export_results(path: str | Path, out: str | Path) -> Path:
    """Write the cells of store `path` (without per-image arrays) to `out`: `.csv` (text spreadsheet-safe:
    `csv_safe`) or `.json` (records)."""
    out = check_export(out)
    frame = load_results(path)
    frame["fingerprint"] = frame["fingerprint"].map(lambda f: json.dumps(f, sort_keys=True))
    if out.suffix == ".csv":
        to_csv(frame, out, index=False)
    else:  # .json: check_export refuses every other suffix
        frame.to_json(out, orient="records", indent=1)
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
