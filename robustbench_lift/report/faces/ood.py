"""Suite "ood" (natural distribution shifts): per set its error and the in-distribution error on the ImageNet
images of its classes, and effective robustness over the models evaluated (table and logit-axes figure)."""

from typing import Any

from robustbench_lift.metrics.effective_robustness import OOD_SETS
from robustbench_lift.report.face import Face, Figure, Metric, Section, Table


def _effective_robustness(frame: Any, tables: dict) -> Any:
    from robustbench_lift.report.figures_ood import effective_robustness_figure

    return effective_robustness_figure(tables["effective_robustness"][0]) if "effective_robustness" in tables \
        else None


FACE = Face(
    suite="ood", priority=5,
    metrics={name: metric for shift in OOD_SETS for name, metric in (
        (f"id_err/{shift}", Metric(f"{shift} ID err.", False, f"top-1 error on the ImageNet validation images of "
                                   f"{shift}'s classes, the x axis of its effective robustness (%)")),
        (f"ood_err/{shift}", Metric(f"{shift} err.", False, f"top-1 error on {shift} (%)")))},
    summarize="robustbench_lift.report.ood:ood_summary",
    units="robustbench_lift.report.ood:ood_units",
    tables=(Table("effective_robustness", "robustbench_lift.report.ood:report_table", options=True),),
    figures=(Figure("effective_robustness", _effective_robustness),),
    sections=(Section("Effective robustness", "effective_robustness", "effective_robustness", "Accuracy on each "
                      "natural distribution shift against ImageNet accuracy on the same classes, logit axes (Taori et "
                      "al. 2020); ER: accuracy above the line (fitted over the models, or given with --er-fit; "
                      "points), with its 95% bootstrap CI."),),
)
