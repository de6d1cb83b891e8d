"""The baseline file of `liftbench check` and tolerance specs: parsed and validated whole, nothing non-finite.

Python's `json` reads NaN and Infinity literals, which would compare as "same" to anything: they are refused,
as is every other malformed part of the file, with a `UsageError` naming it.
"""

import difflib
import json
import math
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

from robustbench_lift.errors import UsageError
from robustbench_lift.report import TOLERANCE_SPEC_HELP
from robustbench_lift.report.summary import METRICS


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
    """Parse and validate a baseline JSON file: `{"metrics": {model: {metric: value}}, "tolerance": {...},
    "settings": {model: {setting: value}}}`, values finite numbers, tolerances finite numbers >= 0; anything else
    is a `UsageError` naming the part."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"baseline {path} does not exist; write it from a run with `liftbench check --update`")
    try:
        data = _load_json(path.read_text())
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
        raise UsageError(f"baseline {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise UsageError(f"baseline {path} must be an object with a \"metrics\" object of model -> metrics")
    unknown = sorted(set(data) - {"metrics", "tolerance", "settings"})
    if unknown:
        raise UsageError(f"baseline {path}: unknown key(s) {', '.join(map(repr, unknown))}; expected \"metrics\" "
                         "and optionally \"tolerance\" and \"settings\"")
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
    settings = data.get("settings") or {}
    if not isinstance(settings, dict) or not all(isinstance(v, dict) for v in settings.values()):
        raise UsageError(f"baseline {path}: \"settings\" must be an object of model -> {{setting: value}}")
    return {"metrics": data["metrics"], "tolerance": parse_tolerance(tolerance), "settings": settings}
