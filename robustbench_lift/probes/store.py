"""Probe results in the results store: table `probes`, one row per (model, probe, data set, site).

Columns: the model's `model`, `weights_sha256` (as in `cells`), `probe` ("aliasing"), `dataset`, `site` (the
layer's dotted path), `position` (module order), `pool`, `form` (the pooling's undecimated form), `n` images,
`summary` (JSON of the site's mean measures), `values` (the per-image `(n, k)` float32 array as `.npy` bytes, empty
for a site not measured), `fingerprint` (JSON: images, limit, input size), `finished_at`. The table is created by
the first probe written (`CREATE TABLE IF NOT EXISTS`, as `engine.chunks` owns `chunks`): stores without it read
as having no probes, and the `cells` schema is unchanged.
"""

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustbench_lift.store import ResultStore, array_from_bytes, array_to_bytes
from robustbench_lift.store.results import opened

_SCHEMA = """
CREATE TABLE IF NOT EXISTS probes (
    model TEXT NOT NULL,
    weights_sha256 TEXT NOT NULL,
    probe TEXT NOT NULL,
    dataset TEXT NOT NULL,
    site TEXT NOT NULL,
    position INTEGER NOT NULL,
    pool TEXT NOT NULL,
    form TEXT NOT NULL,
    n INTEGER NOT NULL,
    summary TEXT NOT NULL,
    "values" BLOB NOT NULL,
    fingerprint TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (model, weights_sha256, probe, dataset, site)
)
"""
SUMMARY_COLUMNS = ("site", "pool", "form", "n")
"""Columns of a probe frame that are not measures."""


def put_probe(store: ResultStore, key: tuple[str, str, str, str], frame: pd.DataFrame,
              per_image: Mapping[str, np.ndarray], fingerprint: Mapping[str, Any]) -> None:
    """Write (replace) one probe's sites in one transaction: `key` `(model, weights_sha256, probe, dataset)`,
    `frame` one row per site (`SUMMARY_COLUMNS` then the mean measures), `per_image` site -> `(n, k)` array."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    measures = [c for c in frame.columns if c not in SUMMARY_COLUMNS]
    rows = [(*key, row.site, position, row.pool, row.form, int(row.n),
             json.dumps({m: None if pd.isna(v) else float(v) for m, v in zip(measures, row[measures])}),
             array_to_bytes(np.asarray(per_image.get(row.site, np.empty((0, len(measures)))), dtype=np.float32)),
             json.dumps(dict(fingerprint), sort_keys=True), now)
            for position, (_, row) in enumerate(frame.iterrows())]
    with store.transaction() as db:
        db.execute(_SCHEMA)
        db.execute("DELETE FROM probes WHERE model = ? AND weights_sha256 = ? AND probe = ? AND dataset = ?", key)
        db.executemany(f"INSERT INTO probes VALUES ({', '.join('?' * 13)})", rows)


def load_probes(source: str | Path | ResultStore, probe: str, values: bool = False) -> pd.DataFrame:
    """The sites of `probe` in the open store `source` or the store at that path (read-only), one row per model
    and site in module order: key columns, `SUMMARY_COLUMNS`, the summary's measures, and with `values` the
    per-image arrays. Empty when the store has no probes."""
    with opened(source) as store:
        if not store.has_table("probes"):
            return pd.DataFrame(columns=["model", "weights_sha256", "dataset", *SUMMARY_COLUMNS])
        with store.transaction() as db:
            frame = pd.read_sql_query("SELECT * FROM probes WHERE probe = ? ORDER BY model, dataset, position", db,
                                      params=(probe,))
    summary = pd.DataFrame([json.loads(text) for text in frame["summary"]], index=frame.index)
    frame = pd.concat([frame.drop(columns=["summary", "probe", "position"]), summary], axis=1)
    if values:
        frame["values"] = frame["values"].map(array_from_bytes)
    return frame.drop(columns=[] if values else ["values"])
