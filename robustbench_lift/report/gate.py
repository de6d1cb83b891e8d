"""Regression gate on robustness numbers: compare a run with a reviewed baseline JSON.

The baseline is plain JSON that a person reviews in a diff, in percent points:

    {"metrics": {"resnet18-lift": {"clean_err": 30.1, "mCE": 71.2, "rel_mCE": 98.0, "consistency": 88.4}},
     "tolerance": {"clean_err": 0.5, "mCE": 0.5, "rel_mCE": 1.0, "consistency": 0.5},
     "settings": {"resnet18-lift": {"num_classes": 1000, "precision": "fp32"}}}

"settings" (optional) records what the run's cells shared; a run with other settings is refused unless mixing
is allowed (`significance.check_settings`).
Metrics are those of `tables.METRICS` (clean_err, mCE, rel_mCE, mean_err, mFR, mT5D, consistency); a metric a
run did not measure is simply absent. Every metric is lower-is-better except consistency. A tracked metric
*regresses* when it is worse than the baseline by more than its tolerance (absolute points):
`current - baseline > tol` (lower-is-better) or `baseline - current > tol` (consistency). Both values are
rounded to `DIGITS` decimals first, so a run that reproduces the baseline exactly always passes.

Tolerances come from, in increasing priority: `DEFAULT_TOLERANCE`, the baseline's "tolerance" object, and the
`tolerance` argument (a mapping, a TOML/JSON file, or `metric=points` pairs; see `parse_tolerance`).

The baseline may also be the baseline run's results store: its point metrics are the baseline values, and its
per-image predictions pair it with the run and, with `Significance` (`--require-significant`), count a
regression only when its Holm-adjusted paired p is below alpha (else "worse (not significant)"; see
`report.significance`).

Nothing incomplete passes: a cell of the run or of a store baseline with fewer images than requested or than the
other cells of its suite and data set is a `UsageError` (`summary.check_complete`). Nothing non-finite passes:
a NaN or Infinity in the baseline (Python's `json` reads those literals; they would compare as "same" to
anything) or a tolerance that is not a finite number >= 0 is a `UsageError`, and so is every other malformed
part of the file; an infinite metric in the run is a `LiftbenchError` (a NaN one counts as not measured, which
fails when the baseline tracks it).
"""

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.report.baseline import parse_tolerance, read_baseline
from robustbench_lift.report.significance import (
    Significance,
    baseline_p_values,
    check_settings,
    is_store,
    model_settings,
)
from robustbench_lift.report.summary import METRICS, ResultsLike, check_complete, describe, load, summary_table

DIGITS = 4
"""Decimals (of percent points) kept in the baseline file and used for the comparison."""
DEFAULT_TOLERANCE = 0.5
"""Points allowed when neither the baseline nor the caller sets a metric's tolerance. About the 95% bootstrap
half-width of a top-1 error near 25% over 30,000 images (1.96 * sqrt(0.25 * 0.75 / 30000) = 0.49 points), so a
reseeded full ImageNet evaluation passes while a real regression of a point does not."""



@dataclass(frozen=True)
class MetricChange:
    """One (model, metric) comparison; `baseline` is None for a metric the baseline does not track."""

    model: str
    metric: str
    baseline: float | None
    current: float
    tolerance: float
    p_holm: float | None = None
    alpha: float | None = None

    @property
    def worse_by(self) -> float:
        """Points by which `current` is worse than `baseline` (negative: better); 0 for untracked metrics."""
        if self.baseline is None:
            return 0.0
        sign = -1.0 if METRICS[self.metric].higher_is_better else 1.0
        return round(sign * (self.current - self.baseline), DIGITS)

    @property
    def status(self) -> str:
        """'REGRESSED', 'worse (not significant)' (with `alpha`: p_holm >= alpha), 'worse (within tol)',
        'improved', 'same' or 'untracked'."""
        if self.baseline is None:
            return "untracked"
        if self.worse_by > self.tolerance:
            significant = self.alpha is None or self.p_holm is None or self.p_holm < self.alpha
            return "REGRESSED" if significant else "worse (not significant)"
        if self.worse_by > 0:
            return "worse (within tol)"
        return "improved" if self.worse_by < 0 else "same"


@dataclass(frozen=True)
class CheckResult:
    """Outcome of `check`: every compared (model, metric), regressions first in `table()`."""

    changes: tuple[MetricChange, ...]

    @property
    def regressions(self) -> list[MetricChange]:
        return [c for c in self.changes if c.status == "REGRESSED"]

    @property
    def passed(self) -> bool:
        return not self.regressions

    def table(self) -> pd.DataFrame:
        """One row per (model, metric): baseline, current, delta (current - baseline), tolerance, status (and
        p_holm when the check was paired)."""
        rows = [{"model": c.model, "metric": c.metric, "baseline": c.baseline, "current": c.current,
                 "delta": None if c.baseline is None else round(c.current - c.baseline, DIGITS),
                 "tolerance": c.tolerance, "p_holm": c.p_holm, "status": c.status} for c in self.changes]
        columns = ["model", "metric", "baseline", "current", "delta", "tolerance", "p_holm", "status"]
        if all(c.p_holm is None for c in self.changes):
            columns.remove("p_holm")
        return pd.DataFrame(rows, columns=columns)

    def format(self) -> str:
        """Readable fixed-width table of what moved, then a one-line verdict."""
        table = self.table()
        for column in ("baseline", "current", "delta", "tolerance"):
            table[column] = table[column].map(lambda v: "-" if pd.isna(v) else f"{v:+.2f}" if column == "delta"
                                              else f"{v:.2f}")
        if "p_holm" in table:
            table["p_holm"] = table["p_holm"].map(lambda v: "-" if pd.isna(v) else f"{v:.3g}")
        verdict = (f"PASS: no tracked metric regressed beyond its tolerance ({len(self.changes)} compared)"
                   if self.passed else
                   f"FAIL: {len(self.regressions)} metric(s) regressed beyond tolerance: "
                   + ", ".join(f"{c.model} {c.metric} worse by {c.worse_by:.2f} > {c.tolerance:.2f} points"
                               for c in self.regressions))
        return f"{table.to_string(index=False)}\n{verdict}"


def run_metrics(results: ResultsLike, origin: str | None = None) -> dict[str, dict[str, float]]:
    """Point estimates of every measured metric per model, in points rounded to `DIGITS`: `{model: {metric: v}}`;
    `origin` names the results in messages (default: the store paths)."""
    frame = load(results)
    check_complete(frame, origin or describe(results))
    summary = summary_table(frame, ci=False)
    metrics = {str(model): {metric: round(float(value), DIGITS) for metric, value in row.items()
                            if metric in METRICS and pd.notna(value)}
               for model, row in summary.iterrows()}
    broken = [f"{model} {metric} = {value}" for model, values in metrics.items() for metric, value in values.items()
              if not math.isfinite(value)]
    if broken:
        raise LiftbenchError(f"the results hold non-finite metric(s) ({', '.join(broken)}): the run is broken (a "
                             "cell without images or a diverged model?); no gate can compare it")
    return metrics


def check(results: ResultsLike, baseline_json: str | Path,
          tolerance: str | Path | Mapping[str, float] | None = None, significance: Significance | None = None,
          allow_mixed: bool = False) -> CheckResult:
    """Compare a run with the baseline file; `result.passed` is False when any tracked metric regressed.

    `results`: a `load_results` DataFrame or path(s) to results stores. `baseline_json`: a baseline JSON, or a
    results store of the baseline run (paired with the run; needed for `significance`). Raises `UsageError` when
    the results are empty, when a baseline model is missing from the run, when the run lacks a metric the
    baseline tracks for a model (a gate that silently skipped it would pass by accident), or when a store
    baseline does not pair with the run. Models and metrics the run has beyond the baseline are listed as
    'untracked' and never fail.
    """
    paired = is_store(baseline_json)
    if significance is not None and not paired:
        raise UsageError(f"--require-significant needs the baseline run's per-image predictions, and {baseline_json} "
                         "is a baseline JSON: pass the baseline's results store instead (--baseline base.db)")
    # each store is read once: with its per-image predictions when the run is paired with a store baseline
    base = load(baseline_json, predictions=True) if paired else None
    run = load(results, predictions=paired)
    baseline = {"metrics": run_metrics(base, str(baseline_json)), "tolerance": {}, "settings": {}} if paired \
        else read_baseline(baseline_json)
    if not any(baseline["metrics"].values()):
        raise UsageError(f"baseline {baseline_json} tracks no metric: write it from a run with --update")
    tolerances = {**baseline["tolerance"], **parse_tolerance(tolerance)}
    current = run_metrics(run, describe(results))
    missing_models = [m for m in baseline["metrics"] if m not in current]
    if missing_models:
        raise UsageError(f"results lack model(s) {', '.join(missing_models)} tracked by {baseline_json}; "
                         f"results have {', '.join(current) or 'none'}. Evaluate them, or drop them from the "
                         "baseline with --update")
    check_settings(baseline["settings"], model_settings(run), str(baseline_json), allow_mixed)
    p_holm = baseline_p_values(base, run, list(baseline["metrics"]), significance, allow_mixed,
                               Path(baseline_json).name) if paired else {}
    alpha = significance.alpha if significance else None
    changes = []
    for model, values in current.items():
        tracked = baseline["metrics"].get(model, {})
        missing = [m for m in tracked if m not in values]
        if missing:
            raise UsageError(f"results for {model} lack {', '.join(missing)} tracked by {baseline_json}; "
                             f"measured: {', '.join(values) or 'nothing'}")
        changes += [MetricChange(model, metric, tracked.get(metric), value, tolerances.get(metric, DEFAULT_TOLERANCE),
                                 p_holm.get((model, metric)), alpha) for metric, value in values.items()]
    order = {"REGRESSED": 0}
    return CheckResult(tuple(sorted(changes, key=lambda c: order.get(c.status, 1))))


def update_baseline(results: ResultsLike, baseline_json: str | Path,
                    tolerance: str | Path | Mapping[str, float] | None = None) -> dict:
    """Write (or rewrite) the baseline file from a run and return what was written.

    The run's models replace their entries entirely (a metric no longer measured disappears); models of the
    old file that the run did not evaluate are kept. Every metric present gets an explicit tolerance
    (caller's, else the old file's, else `DEFAULT_TOLERANCE`) so the reviewer sees it in the diff.
    """
    path = Path(baseline_json)
    if is_store(path):
        raise UsageError(f"{path} is a results store: --update writes a baseline JSON; a store baseline is the "
                         "baseline run's own `liftbench evaluate --out` file")
    old = read_baseline(path) if path.exists() else {"metrics": {}, "tolerance": {}, "settings": {}}
    run = load(results)
    current = run_metrics(run, describe(results))
    metrics = {**old["metrics"], **current}
    tolerances = {**old["tolerance"], **parse_tolerance(tolerance)}
    present = [m for m in METRICS if any(m in values for values in metrics.values())]
    data = {"metrics": {model: {m: metrics[model][m] for m in METRICS if m in metrics[model]}
                        for model in sorted(metrics)},
            "tolerance": {m: tolerances.get(m, DEFAULT_TOLERANCE) for m in present}}
    settings = {**old["settings"], **model_settings(run)}
    data["settings"] = {model: settings[model] for model in sorted(metrics) if model in settings}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    return data
