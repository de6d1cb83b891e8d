"""Suite "shift": consistency of the top-1 under shifted crops and accuracy over them, agreement by shift."""

from typing import Any

from robustbench_lift.report.face import Face, Figure, Metric, Section, Table


def _consistency_vs_shift(frame: Any, tables: dict) -> Any:
    from robustbench_lift.report import figures

    return figures.consistency_vs_shift(tables["shift"][0]) if "shift" in tables else None


FACE = Face(
    suite="shift", priority=2,
    metrics={"consistency": Metric("consistency", True, "crop pairs with the same top-1 prediction (%)"),
             "shift_acc": Metric("shift acc.", True, "top-1 accuracy over the same shifted crops (%)")},
    summarize="robustbench_lift.report.aggregate:shift_summary",
    units="robustbench_lift.report.paired:shift_units",
    tables=(Table("shift", "robustbench_lift.report.tables:shift_table"),),
    figures=(Figure("consistency_vs_shift", _consistency_vs_shift),),
    sections=(Section("Consistency under shift", "shift", "consistency_vs_shift", "Agreement of the top-1 "
                      "prediction with the unshifted image along the diagonal."),),
)
