"""Reports and regression checks over results stores written by `liftbench evaluate` (no torch, no suites).

    >>> from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
    >>> from robustbench_lift.suites.options import CorruptionOptions
    >>> for model in ("demo-max", "demo-lift"):       # a small store: 50 demo images, fog at severities 1, 3, 5
    ...     _ = evaluate(model, CorruptionOptions(corruptions=["fog"], severities=[1, 3, 5], preset="cifar"), "demo",
    ...                  run=RunOptions(limit=50, out="results.db", progress=False),
    ...                  options=ModelOptions(weights="DEFAULT"))
    >>> from robustbench_lift.report import build_report, check, compare, update_baseline
    >>> files = build_report(["results.db"], "report", baseline="demo-max")   # tables, figures, report.html
    >>> _ = update_baseline("results.db", "baseline.json")     # on purpose: the JSON is reviewed in the diff
    >>> check("results.db", "baseline.json").passed             # the CI gate
    True
    >>> comparison = compare("demo-max", "demo-lift", results=["results.db"])  # paired deltas, CIs, Holm p

`faces` declares what each suite shows (its `face.Face`: metrics, summariser, paired units, tables, figures,
sections), `aggregate` computes every suite's metrics and CIs from the store, `summary` merges them per model, `tables`
and `figures` present them, `html` assembles the page, `build` writes everything, `gate` (`check`) gates a run
against a reviewed baseline JSON (or a baseline run's store: `significance`), `comparison` tests two models or
runs image by image (`paired`), `deltas` adds paired CIs to the report's difference to a baseline. The names
below load on first use; no submodule shares a name with them (`from package import name` would import that submodule).
"""

from robustbench_lift.registry import lazy

FORMATS = ("md", "csv", "tex", "html")
"""Table formats of `liftbench report` and `compare`."""
TOLERANCE_SPEC_HELP = ("a TOML/JSON file ({metric = points} at top level or under [tolerance]) or "
                       "comma-separated metric=points pairs, e.g. 'mCE=0.5,clean_err=0.3'")
"""How `liftbench check --tolerance` is written."""

_EXPORTS = {"build_report": "robustbench_lift.report.build", "check": "robustbench_lift.report.gate",
            "update_baseline": "robustbench_lift.report.gate", "CheckResult": "robustbench_lift.report.gate",
            "compare": "robustbench_lift.report.comparison", "summary_table": "robustbench_lift.report.summary",
            "METRICS": "robustbench_lift.report.summary", "summarize": "robustbench_lift.report.aggregate"}
__all__ = ["FORMATS", "TOLERANCE_SPEC_HELP", *sorted(_EXPORTS)]
__getattr__ = lazy(_EXPORTS)
