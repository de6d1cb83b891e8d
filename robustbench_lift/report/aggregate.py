"""Summaries of stored cells: one row per (model, weights, suite, data set) with bootstrap confidence intervals.

For the `c` and `clean` suites (`robustbench_lift.metrics` has every formula): `clean_err`, `clean_top5_err`,
`mean_err` over the corruption cells, `mean_err/<benchmark>` over those of 3DCC (`3dcc`) or ImageNet-C-bar
(`cbar`) instead (no AlexNet normaliser: mean errors, never CE), and for 1000-class (ImageNet) models `mCE`,
`rel_mCE` (relative mCE needs the clean cell), `CE/<corruption>` and `rel_CE/<corruption>`; every value a
fraction, with `<name>_lo`, `<name>_hi` bounds of its percentile bootstrap interval. The bootstrap resamples
images jointly across the cells of equal size (image i is the same photograph in every cell, the clean cell
included), so the interval of an aggregate keeps the correlation between its cells. A suite declares its
summariser in its face (`report/faces/<suite>.py`), which `SUMMARIZERS` collects.

For `p` (`perturbation_summary`, formulas in `metrics.perturbation.perturbation_aggregates`): per perturbation
`FP/<p>`, `uT5D/<p>`, `mFP`, `mUT5D` over the evaluated test perturbations, and when every cell carries its
baseline's values, `FR/<p>` = FP / FP_base, `T5D/<p>`, `mFR`, `mT5D` (1 = baseline) and the text column
`p_baseline` ("none" without one). As the published numbers, these are difficulty 1's; difficulties 2 and 3
(ImageNet-P/test.py `--difficulty`) get the same columns per difficulty suffixed `@2`, `@3`. Cells made with
the CIFAR-10-P preset (`preset: cifar` in every fingerprint) average cifar-p-eval.py's 10 perturbations. Intervals
resample sequences jointly across cells (none for cells stored without per-sequence predictions). For
`shift` (`shift_summary`): `consistency` and `shift_acc` (top-1
accuracy over the same crops) from the pairs cell, resampling images, and the text column `shift_mode`. For
`seg`: `report.segmentation` (clean_mIoU, mean_mIoU, mIoU/<c>, mCD, CD/<c>, seg_consistency).
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.bootstrap import bootstrap_means, percentile_interval
from robustbench_lift.metrics.corruption import corruption_summary
from robustbench_lift.metrics.perturbation import per_sequence, perturbation_aggregates
from robustbench_lift.metrics.shift import PAIRS, pair_agreement
from robustbench_lift.registry import Registry
from robustbench_lift.report.faces import FACES
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


def perturbation_summary(cells: pd.DataFrame, n_boot: int, seed: int, level: float) -> dict[str, Any]:
    """Summary of one model's `p` cells (rows of `load_results`, with predictions for intervals)."""
    keys = list(zip(cells["corruption"], cells["severity"]))
    base = None
    if "base_flip_prob" in cells and cells["base_flip_prob"].notna().all():
        base = {key: (b, u) for key, b, u in zip(keys, cells["base_flip_prob"], cells["base_ut5d"])}
    cifar = all(f.get("preset") == "cifar" for f in cells["fingerprint"]) if "fingerprint" in cells else False
    means_over = "cifar" if cifar else "test"
    points = perturbation_aggregates(dict(zip(keys, cells["flip_prob"])), dict(zip(keys, cells["ut5d"])), base,
                                     means_over)
    replicates = None
    if n_boot and "predictions" in cells and all(p.ndim == 3 for p in cells["predictions"]):
        sequences = [per_sequence(key, p) for key, p in zip(keys, cells["predictions"])]
        draws = bootstrap_means([v for pair in sequences for v in pair], n_boot, seed)
        replicates = perturbation_aggregates({key: draws[:, 2 * j] for j, key in enumerate(keys)},
                                             {key: draws[:, 2 * j + 1] for j, key in enumerate(keys)}, base,
                                             means_over)
    row: dict[str, Any] = {"n_cells": len(cells)}
    _with_interval(row, points, replicates, level)
    row["p_baseline"] = ", ".join(sorted(set(cells["p_baseline"]))) if base is not None else "none"
    return row


def shift_summary(cells: pd.DataFrame, n_boot: int, seed: int, level: float) -> dict[str, Any]:
    """Summary of one model's `shift` cells: consistency and accuracy of its pairs cell, with intervals."""
    modes = cells["shift_mode"].dropna() if "shift_mode" in cells else []
    row: dict[str, Any] = {"n_cells": len(cells), "shift_mode": ", ".join(sorted(set(modes))) or None}
    pairs = cells[(cells["corruption"] == PAIRS[0]) & (cells["severity"] == PAIRS[1])]
    if pairs.empty:
        return row
    cell = pairs.iloc[0]
    points = {"consistency": np.asarray(cell["consistency"]), "shift_acc": np.asarray(1 - cell["top1_err"])}
    replicates = None
    if n_boot and "predictions" in cells:
        correct = np.mean(cell["predictions"][..., 0] == cell["labels"][:, None], axis=1)
        draws = bootstrap_means([pair_agreement(cell["predictions"]), correct], n_boot, seed)
        replicates = {"consistency": draws[:, 0], "shift_acc": draws[:, 1]}
    _with_interval(row, points, replicates, level)
    return row


Summarizer = Callable[[pd.DataFrame, int, int, float], dict[str, Any]]
SUMMARIZERS: Registry = Registry("suite summary")
"""Suite name -> `summarizer(cells, n_boot, seed, level) -> row`: each `report/faces` module's `summarize`."""
for _suite, _face in FACES.items():
    SUMMARIZERS.register(_suite, _face.summarize)


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
        rows.append({**dict(zip(GROUP_COLUMNS, key)), **summarizer(cells.reset_index(drop=True), n_boot, seed, level)})
    return pd.DataFrame(rows)

