"""The summary of one model's `seg` cells: clean mIoU and pixel accuracy, mean mIoU over the corruptions, mIoU
per corruption, shift consistency `seg_consistency` (agreeing / overlap pixels of the `("shift", 0)` cell), and
with a `seg_baseline` stored in every corruption cell, CD per corruption and mCD, and with both models' clean
cells the relative rCD per corruption and its mean
(`metrics.segmentation` has the formulas), each with a percentile bootstrap interval.

The bootstrap resamples images (`bootstrap_weights`): the same multinomial weights for every cell of equal size,
as image i is the same image (corrupted differently) in every cell, so an aggregate over cells keeps their
correlation; the baseline's mIoUs are constants (as AlexNet's errors are for mCE).
"""

from typing import Any

import numpy as np
import pandas as pd

from robustbench_lift.metrics.bootstrap import percentile_interval
from robustbench_lift.metrics.segmentation import (
    bootstrap_weights,
    consistency,
    mean_iou,
    pixel_accuracy,
    segmentation_summary,
)

CLEAN, SHIFT = ("clean", 0), ("shift", 0)


def _aggregates(counts: dict[tuple[str, int], np.ndarray], baseline: dict | None,
                weights: np.ndarray | None) -> dict[str, np.ndarray]:
    """Every aggregate from per-cell counts `(N, 2, C)`, optionally under bootstrap `weights` `(B, N)`."""
    miou = {cell: mean_iou(c[:, 0], c[:, 1], weights) for cell, c in counts.items() if cell != SHIFT}
    points = segmentation_summary({cell: v for cell, v in miou.items() if cell != CLEAN}, baseline, miou.get(CLEAN))
    if SHIFT in counts:
        points["seg_consistency"] = consistency(counts[SHIFT][:, 0], counts[SHIFT][:, 1], weights)
    if CLEAN in counts:
        points["clean_mIoU"] = miou[CLEAN]
        points["clean_pixel_acc"] = pixel_accuracy(counts[CLEAN][:, 0], counts[CLEAN][:, 1], weights)
    return points


def seg_summary(cells: pd.DataFrame, n_boot: int, seed: int, level: float) -> dict[str, Any]:
    """Summary row of one model's `seg` cells (rows of `load_results`; counts needed, so with predictions)."""
    row: dict[str, Any] = {"n_cells": len(cells)}
    keys = [(c, int(s)) for c, s in zip(cells["corruption"], cells["severity"])]
    baseline = None
    if "base_miou" in cells and cells.loc[[k not in (CLEAN, SHIFT) for k in keys], "base_miou"].notna().all():
        # the clean cell's base_miou (the baseline's clean mIoU) is kept when stored: rCD needs it
        baseline = {k: float(b) for k, b in zip(keys, cells["base_miou"]) if k != SHIFT and not pd.isna(b)}
        row["seg_baseline"] = ", ".join(sorted(set(cells["seg_baseline"].dropna())))
    replicates = None
    if "predictions" in cells:
        counts = dict(zip(keys, cells["predictions"]))
        points = _aggregates(counts, baseline, None)
        sizes = {len(c) for c in counts.values()}
        if n_boot and len(sizes) == 1:
            replicates = _aggregates(counts, baseline, bootstrap_weights(sizes.pop(), n_boot, seed))
    else:  # the stored per-cell mIoUs give every point estimate (pixel accuracy too), no interval
        stored = dict(zip(keys, cells["miou"]))
        points = segmentation_summary({k: v for k, v in stored.items() if k not in (CLEAN, SHIFT)}, baseline,
                                      stored.get(CLEAN))
        if CLEAN in stored:
            points.update(clean_mIoU=stored[CLEAN], clean_pixel_acc=cells["pixel_acc"].iloc[keys.index(CLEAN)])
        if SHIFT in stored:
            points["seg_consistency"] = cells["consistency"].iloc[keys.index(SHIFT)]
    for metric, value in points.items():
        row[metric] = float(value)
        low, high = percentile_interval(replicates[metric], level) if replicates else (np.nan, np.nan)
        row[f"{metric}_lo"], row[f"{metric}_hi"] = low, high
    return row
