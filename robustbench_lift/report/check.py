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
"""

import difflib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from robustbench_lift.errors import UsageError
from robustbench_lift.report import TOLERANCE_SPEC_HELP
from robustbench_lift.report.significance import (
    Significance,
    baseline_p_values,
    check_settings,
    is_store,
    model_settings,
)
from robustbench_lift.report.summary import METRICS, ResultsLike, summary_table

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


def parse_tolerance(spec: str | Path | Mapping[str, float] | None) -> dict[str, float]:
    """Per-metric tolerances in points from a mapping, a TOML/JSON file or 'metric=points[,metric=points]'.

    A file holds `{metric: points}` either at the top level or under a "tolerance" key. Unknown metric names
    and negative or non-numeric points raise `UsageError`.
    """
    if spec is None:
        return {}
    if isinstance(spec, Mapping):
        raw = dict(spec)
    elif Path(spec).suffix.lower() in (".toml", ".json"):
        raw = _read_tolerance_file(Path(spec))
    else:
        raw = {}
        for pair in filter(None, re.split(r"[,\s]+", str(spec))):
            metric, sep, points = pair.partition("=")
            if not sep:
                raise UsageError(f"tolerance {pair!r} is not metric=points; expected {TOLERANCE_SPEC_HELP}")
            raw[metric.strip()] = points.strip()
    return {_metric_name(metric, "tolerance"): _points(metric, value) for metric, value in raw.items()}


def _read_tolerance_file(path: Path) -> dict:
    if not path.is_file():
        raise UsageError(f"tolerance file {path} does not exist; expected {TOLERANCE_SPEC_HELP}")
    try:
        data = tomllib.loads(path.read_text()) if path.suffix.lower() == ".toml" else json.loads(path.read_text())
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"tolerance file {path} is not valid {path.suffix[1:].upper()}: {exc}") from exc
    data = data.get("tolerance", data) if isinstance(data, dict) else data
    if not isinstance(data, dict):
        raise UsageError(f"tolerance file {path} must hold an object of metric -> points, got {type(data).__name__}")
    return data


def _metric_name(name: str, what: str) -> str:
    if name not in METRICS:
        close = difflib.get_close_matches(name, list(METRICS), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UsageError(f"unknown metric {name!r} in {what}; expected one of {', '.join(METRICS)}{hint}")
    return name


def _points(metric: str, value: object) -> float:
    try:
        points = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        points = float("nan")
    if not points >= 0:  # also rejects NaN
        raise UsageError(f"tolerance for {metric} must be a number of points >= 0, got {value!r}")
    return points


def read_baseline(path: str | Path) -> dict:
    """Parse and validate a baseline JSON file: `{"metrics": {model: {metric: value}}, "tolerance": {...}}`."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"baseline {path} does not exist; write it from a run with `liftbench check --update`")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UsageError(f"baseline {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise UsageError(f"baseline {path} must be an object with a \"metrics\" object of model -> metrics")
    for model, values in data["metrics"].items():
        if not isinstance(values, dict):
            raise UsageError(f"baseline {path}: metrics of {model!r} must be an object of metric -> value")
        for metric, value in values.items():
            _metric_name(metric, f"baseline {path} (model {model!r})")
            if not isinstance(value, (int, float)):
                raise UsageError(f"baseline {path}: {model} {metric} must be a number, got {value!r}")
    settings = data.get("settings") or {}
    if not isinstance(settings, dict) or not all(isinstance(v, dict) for v in settings.values()):
        raise UsageError(f"baseline {path}: \"settings\" must be an object of model -> {{setting: value}}")
    return {"metrics": data["metrics"], "tolerance": parse_tolerance(data.get("tolerance") or {}),
            "settings": settings}


def run_metrics(results: ResultsLike) -> dict[str, dict[str, float]]:
    """Point estimates of every measured metric per model, in points rounded to `DIGITS`: `{model: {metric: v}}`."""
    summary = summary_table(results, ci=False)
    return {str(model): {metric: round(float(value), DIGITS) for metric, value in row.items()
                         if metric in METRICS and pd.notna(value)}
            for model, row in summary.iterrows()}


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
    baseline = {"metrics": run_metrics(baseline_json), "tolerance": {}, "settings": {}} if paired else \
        read_baseline(baseline_json)
    if not any(baseline["metrics"].values()):
        raise UsageError(f"baseline {baseline_json} tracks no metric: write it from a run with --update")
    tolerances = {**baseline["tolerance"], **parse_tolerance(tolerance)}
    current = run_metrics(results)
    missing_models = [m for m in baseline["metrics"] if m not in current]
    if missing_models:
        raise UsageError(f"results lack model(s) {', '.join(missing_models)} tracked by {baseline_json}; "
                         f"results have {', '.join(current) or 'none'}. Evaluate them, or drop them from the "
                         "baseline with --update")
    check_settings(baseline["settings"], model_settings(results), str(baseline_json), allow_mixed)
    p_holm = baseline_p_values(baseline_json, results, list(baseline["metrics"]), significance,
                               allow_mixed) if paired else {}
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
    current = run_metrics(results)
    metrics = {**old["metrics"], **current}
    tolerances = {**old["tolerance"], **parse_tolerance(tolerance)}
    present = [m for m in METRICS if any(m in values for values in metrics.values())]
    data = {"metrics": {model: {m: metrics[model][m] for m in METRICS if m in metrics[model]}
                        for model in sorted(metrics)},
            "tolerance": {m: tolerances.get(m, DEFAULT_TOLERANCE) for m in present}}
    settings = {**old["settings"], **model_settings(results)}
    data["settings"] = {model: settings[model] for model in sorted(metrics) if model in settings}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return data
