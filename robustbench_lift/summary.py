"""Summaries of stored cells: one row per (model, weights, suite, data set) with bootstrap confidence intervals.

For the `c` and `clean` suites (`robustbench_lift.metrics` has the formulas): `clean_err`, `clean_top5_err`,
`mean_err` over the corruption cells, and for 1000-class (ImageNet) models `mCE`, `rel_mCE` (relative mCE
needs the clean cell), `CE/<corruption>` and `rel_CE/<corruption>`; every value a fraction, with `<name>_lo`,
`<name>_hi` bounds of its percentile bootstrap interval. The bootstrap resamples images jointly across the
cells of equal size (image i is the same photograph in every cell, the clean cell included), so the interval of
an aggregate keeps the correlation between its cells. A suite registers its summariser in `SUMMARIZERS`.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustbench_lift.errors import UsageError
from robustbench_lift.metrics import bootstrap_means, corruption_summary, percentile_interval
from robustbench_lift.store import load_results

GROUP_COLUMNS = ["model", "weights_sha256", "suite", "dataset"]
IMAGENET_CLASSES = 1000


def _with_interval(row: dict[str, Any], points: dict[str, np.ndarray], replicates: dict[str, np.ndarray] | None,
                   level: float) -> None:
    for metric, value in points.items():
        row[metric] = float(value)
        low, high = percentile_interval(replicates[metric], level) if replicates else (np.nan, np.nan)
        row[f"{metric}_lo"], row[f"{metric}_hi"] = low, high


def error_summary(cells: pd.DataFrame, n_boot: int, seed: int, level: float) -> dict[str, Any]:
    """Summary of one model's `c` or `clean` cells (rows of `load_results`, with predictions for intervals)."""
    keys = list(zip(cells["corruption"], cells["severity"]))
    is_clean = [c == "clean" for c, _ in keys]
    classes = {f.get("num_classes") for f in cells["fingerprint"]}
    normalise = classes == {IMAGENET_CLASSES}
    errors = {key: err for key, err, clean in zip(keys, cells["top1_err"], is_clean) if not clean}
    clean_err = next((err for err, clean in zip(cells["top1_err"], is_clean) if clean), None)
    points = corruption_summary(errors, clean_err, normalise)
    if clean_err is not None:
        points = {"clean_err": np.asarray(clean_err), **points}
    replicates = None
    if n_boot and "predictions" in cells:
        wrong = [p[:, 0] != y for p, y in zip(cells["predictions"], cells["labels"])]
        draws = bootstrap_means(wrong, n_boot, seed)
        replicate_errors = {key: draws[:, j] for j, key in enumerate(keys) if not is_clean[j]}
        clean_draws = draws[:, is_clean.index(True)] if clean_err is not None else None
        replicates = corruption_summary(replicate_errors, clean_draws, normalise)
        if clean_draws is not None:
            replicates["clean_err"] = clean_draws
    row: dict[str, Any] = {"n_cells": len(cells), "n_corruption_cells": len(errors), "normalised": normalise}
    _with_interval(row, points, replicates, level)
    if clean_err is not None:
        row["clean_top5_err"] = float(cells.loc[is_clean, "top5_err"].iloc[0])
    return row


SUMMARIZERS: dict[str, Callable[[pd.DataFrame, int, int, float], dict[str, Any]]] = {
    "clean": error_summary, "c": error_summary}


def summarize(results: pd.DataFrame | str | Path, n_boot: int = 1000, seed: int = 0,
              level: float = 0.95) -> pd.DataFrame:
    """One summary row per (model, weights_sha256, suite, dataset) of `results` (a store path or the frame of
    `load_results(..., predictions=True)` / `evaluate`); without predictions or with `n_boot=0` the interval
    columns are NaN. Intervals: percentile bootstrap at `level` over `n_boot` replicates seeded by `seed`."""
    frame = results if isinstance(results, pd.DataFrame) else load_results(results, predictions=True)
    if frame.empty:
        raise UsageError("no results to summarise: the store or frame holds no cells")
    rows = []
    for key, cells in frame.groupby(GROUP_COLUMNS, sort=False):
        summarizer = SUMMARIZERS.get(key[2])
        if summarizer is None:
            raise UsageError(f"no summary for suite {key[2]!r}: expected one of {', '.join(SUMMARIZERS)}")
        rows.append({**dict(zip(GROUP_COLUMNS, key)), **summarizer(cells.reset_index(drop=True), n_boot, seed, level)})
    return pd.DataFrame(rows)

