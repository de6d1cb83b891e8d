"""Two models, or two runs of one model, side by side with per-metric deltas against the bootstrap CI.

For every metric either side measured: both values with their 95% bootstrap CIs (`summary_table`), delta =
B - A in points, and `outside_ci`: whether B's value lies outside A's interval, i.e. the change is larger than
the image-resampling noise of the reference side A. (A paired interval of the delta itself would be tighter
for two models evaluated on the same images; it needs bootstrap replicates that `report.aggregate`
does not return.)
"""

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from robustbench_lift.errors import UsageError
from robustbench_lift.report.summary import METRICS, ResultsLike, closest, load, summary_table


def _only_model(table: pd.DataFrame, model: str | None, origin: str) -> pd.Series:
    """The summary row of `model`, or of the run's only model, from one run's summary."""
    labels = list(table.index)
    if model is not None:
        return table.loc[closest(model, labels, f"model of {origin}")]
    if len(labels) > 1:
        raise UsageError(f"{origin} holds {len(labels)} models ({', '.join(labels)}); choose one with --model")
    return table.iloc[0]


def compare(a: str, b: str, results: ResultsLike | None = None, model: str | None = None, n_boot: int = 1000,
            seed: int = 0, level: float = 0.95, datasets: Sequence[str] | None = None) -> pd.DataFrame:
    """Side-by-side table, one row per metric (points).

    With `results`: `a` and `b` are two model labels in those stores. Without: `a` and `b` are two results
    stores (two runs), compared on `model` (or their only model). Columns: `<A>`, `<A>_lo`, `<A>_hi`, the same
    for B, `delta` (B - A), `outside_ci` (B outside A's CI) and `better` (the better side's name when outside,
    else "-"). `attrs["names"]` = (A, B).
    """
    options = {"n_boot": n_boot, "seed": seed, "level": level}
    if results is not None:
        summary = summary_table(load(results, predictions=True, datasets=datasets), **options)
        labels = list(summary.index)
        names = tuple(closest(x, labels, "model") for x in (a, b))
        if names[0] == names[1]:
            raise UsageError(f"compare needs two different models, got {names[0]!r} twice")
        rows = [summary.loc[name] for name in names]
    else:
        rows = [_only_model(summary_table(x, datasets=datasets, **options), model, str(x)) for x in (a, b)]
        names = tuple(f"{side}: {row.name} ({Path(x).name})" for side, row, x in zip("AB", rows, (a, b)))
    metrics = [m for m in METRICS if any(pd.notna(row.get(m)) for row in rows)]
    if not metrics:
        raise UsageError(f"{names[0]} and {names[1]} have no measured metric")
    records = {}
    for metric in metrics:
        record = {f"{name}{suffix}": row.get(f"{metric}{suffix}") for name, row in zip(names, rows)
                  for suffix in ("", "_lo", "_hi")}
        value_a, value_b = rows[0].get(metric), rows[1].get(metric)
        low, high = rows[0].get(f"{metric}_lo"), rows[0].get(f"{metric}_hi")
        outside = bool(pd.notna(value_b) and pd.notna(low) and not low <= value_b <= high)
        delta = value_b - value_a
        b_better = delta > 0 if METRICS[metric].higher_is_better else delta < 0
        records[metric] = {**record, "delta": delta, "outside_ci": outside,
                           "better": names[int(b_better)] if outside else "-"}
    table = pd.DataFrame.from_dict(records, orient="index").astype({"outside_ci": bool})
    table.index.name = "metric"
    table.attrs.update(names=names, title=f"{names[1]} vs {names[0]} (points; delta = B - A; "
                                          f"outside CI: B outside A's {level:.0%} bootstrap CI)")
    return table
