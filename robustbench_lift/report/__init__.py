"""Reports and regression checks over results stores written by `liftbench evaluate`.

    >>> from robustbench_lift.report import build_report, check, compare
    >>> build_report(["results.db"], "reports/demo", baseline="resnet18-max")   # tables, figures, report.html
    >>> check("results.db", "reports/demo/baseline.json").passed                    # CI gate
    >>> compare("resnet18-max", "resnet18-lift", results=["results.db"])         # side by side with deltas

`summary` computes the metrics and CIs, `tables` and `figures` present them, `html` assembles the page,
`build` writes everything, `check` gates a run against a reviewed baseline JSON, `compare` sets two models or
runs side by side.
"""

from robustbench_lift.report.build import build_report
from robustbench_lift.report.check import CheckResult, check, update_baseline
from robustbench_lift.report.compare import compare
from robustbench_lift.report.summary import METRICS, summary_table

__all__ = ["build_report", "check", "update_baseline", "CheckResult", "compare", "summary_table", "METRICS"]
