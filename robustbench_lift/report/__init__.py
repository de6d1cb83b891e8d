"""Reports and regression checks over results stores written by `liftbench evaluate` (no torch, no suites).

    >>> from robustbench_lift.report import build_report, check, compare
    >>> build_report(["results.db"], "reports/demo", baseline="resnet18-max")   # tables, figures, report.html
    >>> check("results.db", "reports/demo/baseline.json").passed                    # CI gate
    >>> compare("resnet18-max", "resnet18-lift", results=["results.db"]).metrics  # paired deltas, CIs, Holm p

`aggregate` computes every suite's metrics and CIs from the store, `summary` merges them per model, `tables`
and `figures` present them, `html` assembles the page, `build` writes everything, `check` gates a run against a
reviewed baseline JSON (or a baseline run's store: `significance`), `compare` tests two models or runs image by
image (`paired`), `deltas` adds paired CIs to the report's difference to a baseline. The names below load on
first use.
"""

from robustbench_lift.registry import lazy

FORMATS = ("md", "csv", "tex", "html")
"""Table formats of `liftbench report` and `compare`."""
TOLERANCE_SPEC_HELP = ("a TOML/JSON file ({metric = points} at top level or under [tolerance]) or "
                       "comma-separated metric=points pairs, e.g. 'mCE=0.5,clean_err=0.3'")
"""How `liftbench check --tolerance` is written."""

_EXPORTS = {"build_report": "robustbench_lift.report.build", "check": "robustbench_lift.report.check",
            "update_baseline": "robustbench_lift.report.check", "CheckResult": "robustbench_lift.report.check",
            "compare": "robustbench_lift.report.compare", "summary_table": "robustbench_lift.report.summary",
            "METRICS": "robustbench_lift.report.summary", "summarize": "robustbench_lift.report.aggregate"}
__all__ = ["FORMATS", "TOLERANCE_SPEC_HELP", *sorted(_EXPORTS)]
__getattr__ = lazy(_EXPORTS)
