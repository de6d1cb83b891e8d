"""Suite "p" (ImageNet-P perturbation sequences): flip probability, flip rate and top-5 distance."""

from typing import Any

from robustbench_lift.report.face import Face, Figure, Metric, Section, Table


def _flip_rate(frame: Any, tables: dict) -> Any:
    from robustbench_lift.report import figures

    return figures.flip_rate(tables["perturbation"][0]) if "perturbation" in tables else None


FACE = Face(
    suite="p", priority=1,
    metrics={"mFP": Metric("mFP", False, "mean flip probability over ImageNet-P perturbations (%)"),
             "mFR": Metric("mFR", False, "mean flip rate, p-baseline = 100 (%)"),
             "mT5D": Metric("mT5D", False, "mean top-5 distance, p-baseline = 100 (%)")},
    summarize="robustbench_lift.report.aggregate:perturbation_summary",
    units="robustbench_lift.report.paired:perturbation_units",
    tables=(Table("perturbation", "robustbench_lift.report.tables:perturbation_table"),),
    figures=(Figure("flip_rate", _flip_rate),),
    sections=(Section("ImageNet-P flip probability", "perturbation", "flip_rate", "Difficulty 1; noise "
                      "perturbations compare each frame with the first, the others consecutive frames."),),
)
