"""Suite `freq` in the report: the summary (`freq_err`, `freq_high_err`), its paired units and the band table.

`freq_err`: the mean top-1 error over the heat map's basis images (every stored `fourier_<u>_<v>` cell, each one
image: a cell stands for its conjugate partner too); `freq_high_err`: the same over the high frequencies
(`metrics.freq.is_high`: `max(|u|, |v|) / side >= 1/4` cycle per pixel, the band 2x down-sampling folds back).
Intervals and paired deltas resample images jointly across the cells, as for suite c.
"""

from typing import Any

import numpy as np
import pandas as pd

from robustbench_lift.metrics.bootstrap import bootstrap_means
from robustbench_lift.metrics.freq import HIGH_FREQUENCY, is_high, parse_cell
from robustbench_lift.report.aggregate import _with_interval
from robustbench_lift.report.paired import SuiteUnits
from robustbench_lift.report.summary import load

BANDS = ((0.0, 0.125), (0.125, HIGH_FREQUENCY), (HIGH_FREQUENCY, 0.5))
"""Frequency bands of `band_table`, cycles per pixel of `max(|u|, |v|) / side`; the last is "high"."""


def heat_cells(cells: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[int, int]], list[bool]]:
    """The `fourier_*` rows of one model's freq cells, their offsets and whether each is a high frequency (square
    inputs of side `input_size`, the fingerprint's)."""
    offsets = [parse_cell(name) for name in cells["corruption"]]
    keep = [o is not None for o in offsets]
    rows = cells[keep]
    sides = [f.get("input_size", 0) for f in rows["fingerprint"]]
    offsets = [o for o in offsets if o is not None]
    return rows, offsets, [is_high(o, (s, s)) for o, s in zip(offsets, sides)]


def _aggregate(high: list[bool]) -> Any:
    mask = np.asarray(high, bool)

    def aggregate(means: np.ndarray) -> dict[str, np.ndarray]:
        out = {"freq_err": means.mean(axis=-1)}
        return out | ({"freq_high_err": means[..., mask].mean(axis=-1)} if mask.any() else {})
    return aggregate


def _errors(rows: pd.DataFrame) -> list[np.ndarray]:
    return [(p[:, 0] != y).astype(np.float64) for p, y in zip(rows["predictions"], rows["labels"])]


def freq_summary(cells: pd.DataFrame, n_boot: int, seed: int, level: float) -> dict[str, Any]:
    """Summary of one model's freq cells: `freq_err`, `freq_high_err` (fractions) with bootstrap intervals."""
    rows, offsets, high = heat_cells(cells)
    row: dict[str, Any] = {"n_cells": len(cells), "n_frequencies": len(offsets)}
    if rows.empty:
        return row
    aggregate = _aggregate(high)
    points = aggregate(rows["top1_err"].to_numpy(dtype=float))
    replicates = aggregate(bootstrap_means(_errors(rows), n_boot, seed)) \
        if n_boot and "predictions" in rows else None
    _with_interval(row, points, replicates, level)
    return row


def freq_units(cells: pd.DataFrame) -> SuiteUnits | None:
    """Per image, the 0/1 top-1 error of every heat-map cell, aggregated as `freq_summary`."""
    rows, _, high = heat_cells(cells)
    return None if rows.empty else SuiteUnits(_errors(rows), _aggregate(high))


def band_table(results: Any) -> pd.DataFrame:
    """Mean top-1 error (%) of the heat-map cells per frequency band (`BANDS`) per model, and the clean error."""
    frame = load(results)
    freq = frame[frame["suite"] == "freq"]
    if freq.empty:
        return pd.DataFrame()
    columns = {}
    for label, cells in freq.groupby("label", sort=False):
        rows, offsets, _ = heat_cells(cells)
        side = np.array([f.get("input_size", 0) for f in rows["fingerprint"]], dtype=float)
        radius = np.array([max(abs(u), abs(v)) for u, v in offsets]) / side
        errors = rows["top1_err"].to_numpy(dtype=float)
        clean = cells.loc[cells["corruption"] == "clean", "top1_err"]
        column = {"clean": float(clean.iloc[0]) if len(clean) else np.nan}
        for low, high in BANDS:
            inside = (radius >= low) & ((radius < high) if high < 0.5 else (radius <= high))
            column[f"{low:g}-{high:g}"] = errors[inside].mean() if inside.any() else np.nan
        columns[label] = column
    table = 100 * pd.DataFrame(columns)
    table.index.name = "band (cycles/px)"
    table.attrs.update(title="Top-1 error (%) under Fourier basis perturbations by frequency band "
                       "(max(|u|, |v|) / side)", quantity="top-1 error (%)")
    return table
