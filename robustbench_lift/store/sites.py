"""The `freq_sites` table of a results store: suite freq's per-site sensitivity (`suites.freq_sites`).

One row per (model, weights, data set, heat-map cell, site, position): `l2`, the mean l2 change of the site's
activations (`position` "in": before the site's module, "out": after it) under that cell's perturbation, over `n`
images, with the `fingerprint` of the measurement (eps, window, step, seed, images). Created on first write with
`CREATE TABLE IF NOT EXISTS`, so stores without it stay valid (schema version unchanged) and read as no rows.
"""

import json
from pathlib import Path
from typing import Any

import pandas as pd

from robustbench_lift.store.results import KEY_SCHEMA, ResultStore, opened

COLUMNS = ("model", "weights_sha256", "suite", "dataset", "corruption", "severity", "site", "position", "l2", "n",
           "fingerprint")
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS freq_sites ({KEY_SCHEMA}
    site TEXT NOT NULL,
    position TEXT NOT NULL,
    l2 REAL NOT NULL,
    n INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    PRIMARY KEY (model, weights_sha256, suite, dataset, corruption, severity, site, position)
)
"""


def put_sites(store: ResultStore, key: tuple[str, str, str], rows: pd.DataFrame, n: int,
              fingerprint: dict[str, Any]) -> None:
    """Write (or replace) the rows `(site, position, cell, l2)` of model `key` = (model, weights_sha256, dataset)
    in one transaction."""
    model, sha, dataset = key
    values = [(model, sha, "freq", dataset, r.cell, 0, r.site, r.position, float(r.l2), n,
               json.dumps(fingerprint, sort_keys=True)) for r in rows.itertuples()]
    with store.transaction() as db:
        db.execute(_SCHEMA)
        db.executemany(f"INSERT OR REPLACE INTO freq_sites ({', '.join(COLUMNS)}) VALUES "
                       f"({', '.join('?' * len(COLUMNS))})", values)


def load_sites(source: str | Path | ResultStore) -> pd.DataFrame:
    """Every `freq_sites` row of the open store `source` or the store at that path (read only; fingerprint
    decoded); no rows without the table."""
    with opened(source) as store:
        if not store.has_table("freq_sites"):
            return pd.DataFrame(columns=list(COLUMNS))
        with store.transaction() as db:
            frame = pd.read_sql_query(f"SELECT {', '.join(COLUMNS)} FROM freq_sites", db)
    frame["fingerprint"] = frame["fingerprint"].map(json.loads)
    return frame
