"""Suite "seg" (segmentation): mIoU, pixel accuracy, mCD and shift consistency (`report.segmentation`), mIoU and
CD per corruption, mIoU by severity (`report.figures_segmentation`)."""

from typing import Any

from robustbench_lift.report.face import Face, Figure, Metric, Section, Table

SEG = "robustbench_lift.report.figures_segmentation"


def _miou_per_corruption(frame: Any, tables: dict) -> Any:
    from robustbench_lift.report import figures_segmentation as seg_figures

    return seg_figures.miou_per_corruption(tables["seg_corruption"][0]) if "seg_corruption" in tables else None


def _miou_vs_severity(frame: Any, tables: dict) -> Any:
    from robustbench_lift.report import figures_segmentation as seg_figures

    return seg_figures.miou_vs_severity(tables["seg_severity"][0]) if "seg_severity" in tables else None


def _robustness_vs_consistency(frame: Any, tables: dict) -> Any:
    from robustbench_lift.report import figures_segmentation as seg_figures

    if "seg_summary" not in tables or tables["seg_summary"][0].reindex(
            columns=["seg_consistency", "mean_mIoU"]).dropna().empty:
        return None
    return seg_figures.robustness_vs_consistency(tables["seg_summary"][0])


FACE = Face(
    suite="seg", priority=4,
    metrics={
        "clean_mIoU": Metric("clean mIoU", True, "segmentation: mean IoU over classes on clean images (%)",
                             "segmentation"),
        "clean_pixel_acc": Metric("clean pixel acc.", True, "segmentation: correct / labelled pixels, clean (%)",
                                  "segmentation"),
        "mean_mIoU": Metric("mean mIoU", True, "segmentation: mIoU averaged over severities, then corruptions (%)",
                            "segmentation"),
        "mCD": Metric("mCD", False, "mean corruption degradation, seg-baseline = 100 (%)", "segmentation"),
        "rCD": Metric("rCD", False, "relative corruption degradation (mIoU lost vs clean), seg-baseline = 100 (%)",
                      "segmentation"),
        "seg_consistency": Metric("seg consistency", True, "segmentation: overlap pixels two shifted crops label "
                                  "alike (%)", "segmentation"),
    },
    summarize="robustbench_lift.report.segmentation:seg_summary",
    tables=(Table("seg_corruption", f"{SEG}:seg_corruption_table", higher_is_better=True),
            Table("seg_cd", f"{SEG}:seg_cd_table", higher_is_better=False),
            Table("seg_severity", f"{SEG}:seg_severity_table")),
    figures=(Figure("miou_per_corruption", _miou_per_corruption), Figure("miou_vs_severity", _miou_vs_severity),
             Figure("seg_robustness_vs_consistency", _robustness_vs_consistency)),
    sections=(
        Section("Segmentation: mIoU per corruption", "seg_corruption", "miou_per_corruption", "Suite seg: mIoU (%) "
                "of each corruption, mean over its severities; best model per corruption in bold."),
        Section("Segmentation: corruption degradation", "seg_cd", None, "Suite seg: CD per corruption, sum over "
                "severities of 1 - mIoU relative to the seg baseline model's (= 100); lower is better, best model per "
                "corruption in bold; mCD, their mean, is in the summary."),
        Section("Segmentation: mIoU by severity", "seg_severity", "miou_vs_severity", "Suite seg: mIoU (%) averaged "
                "over the corruptions of each severity; severity 0 is the clean set."),
        Section("Segmentation: robustness vs shift consistency", None, "seg_robustness_vs_consistency", "Suite seg: "
                "one point per model, mean mIoU under corruption against the fraction of overlap pixels two shifted "
                "crops label alike; bars are 95% CIs. Up and right is better."),
        Section("Segmentation: predictions under corruption", None, "seg_qualitative", "Demo images with their "
                "ground truth and each segmentation model's predicted mask, clean and under corruptions (seeded, as "
                "in the seg cells)."),
    ),
)
