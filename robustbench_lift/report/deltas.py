"""Difference to the baseline model with paired confidence intervals and significance (`report --baseline`).

Every other model is compared with the baseline image by image (`report.paired`): per metric the delta
model - baseline in points with its paired percentile-bootstrap CI, marked significant (bold) when its
two-sided p-value (`report.paired`: McNemar's exact one for clean_err, else the bootstrap's), Holm-adjusted over
that model's metrics, is below `ALPHA`; and per corruption of
the "c" suite the paired delta of CE (AlexNet = 100; mean top-1 error off ImageNet) with its CI, Holm-adjusted
over that model's corruptions, the data of the forest plot (`figures.forest_plot`). A model that does not pair
with the baseline (other images, cells or settings) keeps its point deltas, without interval, and is named in
`attrs["unpaired"]`.
"""

import numpy as np
import pandas as pd

from robustbench_lift.errors import UsageError
from robustbench_lift.report.comparison import ALPHA
from robustbench_lift.report.paired import PairedComparison, paired_comparison


def baseline_comparisons(frame: pd.DataFrame, baseline: str, n_boot: int = 1000, seed: int = 0,
                         level: float = 0.95) -> tuple[dict[str, PairedComparison], dict[str, str]]:
    """`({model: comparison against baseline}, {model: why it does not pair})` for every other label of
    `frame` (rows of `summary.load(..., predictions=True)`)."""
    base = frame[frame["label"] == baseline].reset_index(drop=True)
    comparisons, unpaired = {}, {}
    for label in dict.fromkeys(frame["label"]):
        if label == baseline:
            continue
        cells = frame[frame["label"] == label].reset_index(drop=True)
        try:
            comparisons[label] = paired_comparison(base, cells, (baseline, label), n_boot, seed, level)
        except UsageError as exc:
            unpaired[label] = str(exc)
    return comparisons, unpaired


def _with_ci(points: pd.DataFrame, tables: dict[str, pd.DataFrame], alpha: float
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`points` (rows models, columns metrics) with `<column>_lo`/`_hi` from `tables[model]` (index = columns
    of `points`; ci_lo, ci_hi, p_holm), and the mask of p_holm < alpha."""
    table = points.copy()
    significant = pd.DataFrame(False, index=points.index, columns=points.columns)
    for column in points.columns:
        for suffix, source in (("_lo", "ci_lo"), ("_hi", "ci_hi")):
            table[f"{column}{suffix}"] = [tables[m].at[column, source] if m in tables and column in tables[m].index
                                          else np.nan for m in points.index]
        significant[column] = [bool(m in tables and column in tables[m].index and tables[m].at[column, "p_holm"]
                                    < alpha) for m in points.index]
    order = [c for column in points.columns for c in (column, f"{column}_lo", f"{column}_hi")]
    return table[order], significant


def paired_deltas(frame: pd.DataFrame, deltas: pd.DataFrame, baseline: str, n_boot: int = 1000, seed: int = 0,
                  level: float = 0.95, alpha: float = ALPHA) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """`{"deltas": (table, significant), "corruption_deltas": (table, significant)}`: the point `deltas` of
    `tables.delta_table` with paired CIs, and per corruption (rows) and model (columns) the paired CE delta."""
    comparisons, unpaired = baseline_comparisons(frame, baseline, n_boot, seed, level)
    table, significant = _with_ci(deltas, {m: c.metrics for m, c in comparisons.items()}, alpha)
    note = f"; not paired with {baseline}, no CI: {', '.join(unpaired)}" if unpaired else ""
    table.attrs.update(deltas.attrs, unpaired=unpaired, title=f"Difference to {baseline} (points, paired "
                       f"{level:.0%} bootstrap CI; bold: Holm-adjusted paired p < {alpha:g}; negative is better "
                       f"except consistency and shift acc.){note}")
    out = {"deltas": (table, significant)}
    per_corruption = {m: c.corruptions for m, c in comparisons.items() if not c.corruptions.empty}
    if per_corruption:
        corr = pd.DataFrame({f"{m}{suffix}": t[column] for m, t in per_corruption.items()
                             for suffix, column in (("", "delta"), ("_lo", "ci_lo"), ("_hi", "ci_hi"))})
        marks = pd.DataFrame({m: t["p_holm"] < alpha for m, t in per_corruption.items()}).reindex(corr.index)
        quantity = next(iter(per_corruption.values())).attrs.get("quantity", "CE")
        corr.index.name = "corruption"
        corr.attrs.update(title=f"Paired difference to {baseline} per corruption: {quantity} (points, "
                          f"{level:.0%} CI; bold: Holm-adjusted p < {alpha:g})", quantity=f"delta {quantity}",
                          baseline=baseline)
        out["corruption_deltas"] = (corr, marks.fillna(False).astype(bool))
    return out
