"""Segmentation tables and figures of the report, from the stored per-cell mIoUs of suite `seg` (no recomputation).

- `seg_corruption_table`: mIoU (%) per corruption (mean over its evaluated severities), one column per model.
- `seg_severity_table`: mIoU (%) per severity (mean over the corruptions; severity 0 = the clean cell).
- `seg_cd_table`: CD (%, the seg baseline = 100) per corruption, for the models evaluated with a seg baseline.
- `miou_vs_severity`: one line per model of `seg_severity_table` (Kamann & Rother 2020, mIoU vs severity).
- `miou_per_corruption`: grouped bars of `seg_corruption_table`, one bar per model.
- `robustness_vs_consistency`: one point per model of the summary: mean mIoU under corruption against
  segmentation shift consistency, with their 95% bootstrap intervals.

The shift-consistency cell `("shift", 0)` has no mIoU and appears only in the last.
"""

import pandas as pd
from matplotlib.figure import Figure

from robustbench_lift.metrics.segmentation import corruption_degradation
from robustbench_lift.report.figures import _grouped_bars, _legend, _lines, _scatter_with_ci
from robustbench_lift.report.tables import corruption_order


def _cells(results: pd.DataFrame) -> pd.DataFrame:
    """The seg rows of `results` (a `load`ed frame with `label`) that carry an mIoU."""
    if "miou" not in results:
        return results.iloc[0:0]
    return results[(results["suite"] == "seg") & results["miou"].notna()]


def _corruption_cells(results: pd.DataFrame) -> pd.DataFrame:
    """The seg corruption cells of `results` (`_cells` but the clean one)."""
    cells = _cells(results)
    return cells[cells["corruption"] != "clean"]


def _per_corruption(values: pd.Series, cells: pd.DataFrame, title: str, quantity: str) -> pd.DataFrame:
    """`values` indexed `(corruption, label)` as a table: corruptions in registry order (rows), models in the
    order of `cells` (columns)."""
    table = values.unstack("label").reindex(columns=list(dict.fromkeys(cells["label"])))
    table = table.loc[sorted(table.index, key=corruption_order)]
    table.index.name, table.columns.name = "corruption", None
    table.attrs.update(title=title, quantity=quantity)
    return table


def seg_corruption_table(results: pd.DataFrame) -> pd.DataFrame:
    """mIoU (%) per corruption (rows, registry order) and model (columns); empty without seg corruption cells."""
    cells = _corruption_cells(results)
    if cells.empty:
        return pd.DataFrame()
    return _per_corruption(100 * cells.groupby(["corruption", "label"])["miou"].mean(), cells,
                           "Segmentation: mIoU per corruption (%, mean over severities)", "mIoU (%)")


def seg_severity_table(results: pd.DataFrame) -> pd.DataFrame:
    """mIoU (%) per severity (rows; 0 = clean) and model: the mean over the corruptions evaluated at it."""
    cells = _cells(results)
    if cells.empty:
        return pd.DataFrame()
    models = list(dict.fromkeys(cells["label"]))
    table = (100 * cells.groupby(["severity", "label"])["miou"].mean()).unstack("label").reindex(columns=models)
    table.index, table.columns.name = table.index.astype(int), None
    table.attrs.update(title="Segmentation: mIoU by severity (%, mean over corruptions; 0 = clean)",
                       quantity="mIoU (%)")
    return table


def seg_cd_table(results: pd.DataFrame) -> pd.DataFrame:
    """CD (%) per corruption (rows) and model (columns): `metrics.segmentation.corruption_degradation` of the
    cells' stored mIoUs and their baseline's (`base_miou`), for models whose every corruption cell has one; empty
    without."""
    cells = _corruption_cells(results)
    if cells.empty or "base_miou" not in cells:
        return pd.DataFrame()
    with_baseline = cells.groupby("label", sort=False)["base_miou"].transform(lambda b: b.notna().all())
    cells = cells[with_baseline.astype(bool)]
    if cells.empty:
        return pd.DataFrame()
    degradation = cells.groupby(["corruption", "label"]).apply(
        lambda cell: 100 * float(corruption_degradation(cell["miou"].to_numpy(), cell["base_miou"].to_numpy())),
        include_groups=False)
    baselines = ", ".join(sorted(set(cells["seg_baseline"].dropna()))) if "seg_baseline" in cells else "the baseline"
    return _per_corruption(degradation, cells, f"Segmentation: CD per corruption (%, {baselines} = 100)", "CD (%)")


def miou_vs_severity(severity: pd.DataFrame) -> Figure:
    """One line per model of `seg_severity_table`: mIoU (%) against severity, 0 the clean images."""
    fig = Figure(figsize=(5.5, 3.4), layout="constrained")
    ax = fig.add_subplot()
    _lines(ax, severity)
    ax.set_xticks(severity.index.to_list())
    ax.set_xlabel("severity (0 = clean)")
    ax.set_ylabel("mIoU (%)")
    ax.set_title("Segmentation: mIoU vs severity (mean over corruptions)")
    _legend(ax)
    return fig


def miou_per_corruption(corruption: pd.DataFrame) -> Figure:
    """Grouped bars of `seg_corruption_table`."""
    return _grouped_bars(corruption, "mIoU (%)", "Segmentation: mIoU per corruption (mean over severities)")


def robustness_vs_consistency(summary: pd.DataFrame) -> Figure:
    """One point per model of the summary (`report.summary`, %) with both `seg_consistency` and `mean_mIoU`:
    robustness to corruption (y) against stability under shift (x), 95% CI bars when known; up and right is
    better."""
    rows = summary.dropna(subset=["seg_consistency", "mean_mIoU"])
    fig = Figure(figsize=(5.2, 4.2), layout="constrained")
    ax = fig.add_subplot()
    _scatter_with_ci(ax, rows, "seg_consistency", "mean_mIoU")
    ax.set_xlabel("seg consistency under shift (%)")
    ax.set_ylabel("mean mIoU under corruption (%)")
    ax.set_title("Segmentation: mIoU under corruption vs shift consistency", fontsize="medium")
    ax.grid(alpha=0.3)
    _legend(ax)
    return fig
