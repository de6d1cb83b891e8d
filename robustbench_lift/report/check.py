"""Regression gate on robustness numbers: compare a run with a reviewed baseline JSON.

The baseline is plain JSON that a person reviews in a diff, in percent points:

    {"metrics": {"resnet18-lift": {"clean_err": 30.1, "mCE": 71.2, "rel_mCE": 98.0, "consistency": 88.4}},
     "tolerance": {"clean_err": 0.5, "mCE": 0.5, "rel_mCE": 1.0, "consistency": 0.5}}

Metrics are those of `tables.METRICS` (clean_err, mCE, rel_mCE, mean_err, mFR, mT5D, consistency); a metric a
run did not measure is simply absent. Every metric is lower-is-better except consistency. A tracked metric
*regresses* when it is worse than the baseline by more than its tolerance (absolute points):
`current - baseline > tol` (lower-is-better) or `baseline - current > tol` (consistency). Both values are
rounded to `DIGITS` decimals first, so a run that reproduces the baseline exactly always passes.

Tolerances come from, in increasing priority: `DEFAULT_TOLERANCE`, the baseline's "tolerance" object, and the
`tolerance` argument (a mapping, a TOML/JSON file, or `metric=points` pairs; see `parse_tolerance`).

Nothing non-finite passes: a NaN or Infinity in the baseline (Python's `json` reads those literals; they would
compare as "same" to anything) or a tolerance that is not a finite number >= 0 is a `UsageError`, and so is
every other malformed part of the file; an infinite metric in the run is a `LiftbenchError` (a NaN one counts
as not measured, which fails when the baseline tracks it).
"""

import difflib
import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.report import TOLERANCE_SPEC_HELP
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

    @property
    def worse_by(self) -> float:
        """Points by which `current` is worse than `baseline` (negative: better); 0 for untracked metrics."""
        if self.baseline is None:
            return 0.0
        sign = -1.0 if METRICS[self.metric].higher_is_better else 1.0
        return round(sign * (self.current - self.baseline), DIGITS)

    @property
    def status(self) -> str:
        """'REGRESSED', 'worse (within tol)', 'improved', 'same' or 'untracked'."""
        if self.baseline is None:
            return "untracked"
        if self.worse_by > self.tolerance:
            return "REGRESSED"
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
        """One row per (model, metric): baseline, current, delta (current - baseline), tolerance, status."""
        rows = [{"model": c.model, "metric": c.metric, "baseline": c.baseline, "current": c.current,
                 "delta": None if c.baseline is None else round(c.current - c.baseline, DIGITS),
                 "tolerance": c.tolerance, "status": c.status} for c in self.changes]
        return pd.DataFrame(rows, columns=["model", "metric", "baseline", "current", "delta", "tolerance", "status"])

    def format(self) -> str:
        """Readable fixed-width table of what moved, then a one-line verdict."""
        table = self.table()
        for column in ("baseline", "current", "delta", "tolerance"):
            table[column] = table[column].map(lambda v: "-" if pd.isna(v) else f"{v:+.2f}" if column == "delta"
                                              else f"{v:.2f}")
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
        data = tomllib.loads(path.read_text()) if path.suffix.lower() == ".toml" else _load_json(path.read_text())
    except (tomllib.TOMLDecodeError, ValueError) as exc:
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
        points = float("nan") if isinstance(value, bool) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        points = float("nan")
    if not (math.isfinite(points) and points >= 0):
        raise UsageError(f"tolerance for {metric} must be a finite number of points >= 0, got {value!r}")
    return points


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite value {name} (JSON has no NaN or Infinity; write a finite number)")


def _load_json(text: str) -> object:
    """`json.loads` without the NaN / Infinity / -Infinity literals Python's parser accepts by default."""
    return json.loads(text, parse_constant=_reject_constant)


def read_baseline(path: str | Path) -> dict:
    """Parse and validate a baseline JSON file: `{"metrics": {model: {metric: value}}, "tolerance": {...}}`, values
    finite numbers, tolerances finite numbers >= 0; anything else is a `UsageError` naming the part."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"baseline {path} does not exist; write it from a run with `liftbench check --update`")
    try:
        data = _load_json(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"baseline {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise UsageError(f"baseline {path} must be an object with a \"metrics\" object of model -> metrics")
    unknown = sorted(set(data) - {"metrics", "tolerance"})
    if unknown:
        raise UsageError(f"baseline {path}: unknown key(s) {', '.join(map(repr, unknown))}; expected \"metrics\" "
                         "and optionally \"tolerance\"")
    for model, values in data["metrics"].items():
        if not isinstance(values, dict):
            raise UsageError(f"baseline {path}: metrics of {model!r} must be an object of metric -> value")
        for metric, value in values.items():
            _metric_name(metric, f"baseline {path} (model {model!r})")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise UsageError(f"baseline {path}: {model} {metric} must be a number (finite: no NaN or "
                                 f"Infinity), got {value!r}")
    tolerance = data.get("tolerance", {})
    if not isinstance(tolerance, dict):
        raise UsageError(f"baseline {path}: \"tolerance\" must be an object of metric -> points, got "
                         f"{json.dumps(tolerance)}")
    if any(isinstance(value, str) for value in tolerance.values()):
        raise UsageError(f"baseline {path}: tolerances must be numbers, got {tolerance}")
    return {"metrics": data["metrics"], "tolerance": parse_tolerance(tolerance)}


def run_metrics(results: ResultsLike) -> dict[str, dict[str, float]]:
    """Point estimates of every measured metric per model, in points rounded to `DIGITS`: `{model: {metric: v}}`."""
    summary = summary_table(results, ci=False)
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
          tolerance: str | Path | Mapping[str, float] | None = None) -> CheckResult:
    """Compare a run with the baseline file; `result.passed` is False when any tracked metric regressed.

    `results`: a `load_results` DataFrame or path(s) to results stores. Raises `UsageError` when the results
    are empty, when a baseline model is missing from the run, or when the run lacks a metric the baseline
    tracks for a model (a gate that silently skipped it would pass by accident). Models and metrics the run
    has beyond the baseline are listed as 'untracked' and never fail.
    """
    baseline = read_baseline(baseline_json)
    if not any(baseline["metrics"].values()):
        raise UsageError(f"baseline {baseline_json} tracks no metric: write it from a run with --update")
    tolerances = {**baseline["tolerance"], **parse_tolerance(tolerance)}
    current = run_metrics(results)
    missing_models = [m for m in baseline["metrics"] if m not in current]
    if missing_models:
        raise UsageError(f"results lack model(s) {', '.join(missing_models)} tracked by {baseline_json}; "
                         f"results have {', '.join(current) or 'none'}. Evaluate them, or drop them from the "
                         "baseline with --update")
    changes = []
    for model, values in current.items():
        tracked = baseline["metrics"].get(model, {})
        missing = [m for m in tracked if m not in values]
        if missing:
            raise UsageError(f"results for {model} lack {', '.join(missing)} tracked by {baseline_json}; "
                             f"measured: {', '.join(values) or 'nothing'}")
        changes += [MetricChange(model, metric, tracked.get(metric), value,
                                 tolerances.get(metric, DEFAULT_TOLERANCE)) for metric, value in values.items()]
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
    old = read_baseline(path) if path.exists() else {"metrics": {}, "tolerance": {}}
    current = run_metrics(results)
    metrics = {**old["metrics"], **current}
    tolerances = {**old["tolerance"], **parse_tolerance(tolerance)}
    present = [m for m in METRICS if any(m in values for values in metrics.values())]
    data = {"metrics": {model: {m: metrics[model][m] for m in METRICS if m in metrics[model]}
                        for model in sorted(metrics)},
            "tolerance": {m: tolerances.get(m, DEFAULT_TOLERANCE) for m in present}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    return data
